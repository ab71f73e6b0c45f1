"""Image service (Glance v2): images, their data and members; and the guest images
nubo builds."""
