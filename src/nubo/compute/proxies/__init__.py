"""Nova's proxy APIs: compute routes that show another service's resources in Nova's
shapes (images and their metadata from the image service; security groups, floating
IPs and networks from the network service). Nova removed them at microversion 2.36
(image metadata at 2.39); clients older than that still use them.

Each module calls the other service's own functions with the caller's identity and
policy, as Nova calls Glance and Neutron with the user's token, so visibility and
permissions are the other service's; errors are mapped to Nova's codes.
"""
