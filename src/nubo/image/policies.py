"""Default policy rules of the image service, under Glance's rule names.

Which images a caller can see (visibility, membership) is decided in the service
layer; these rules decide what a caller may do with an image it can see. The
target carries the image's ``owner`` (and ``member_id`` for member updates).
"""

from __future__ import annotations

from nubo.api.policy import Rule

ADMIN = "role:admin"
READER = "role:admin or role:reader"
OWNING_MEMBER = "role:admin or (role:member and project_id:%(owner)s)"

RULES: list[Rule] = [
    Rule("context_is_admin", ADMIN, "Callers that see and manage every image"),
    Rule("add_image", OWNING_MEMBER, "Create an image owned by the caller's project"),
    Rule("get_image", READER, "Show an image the caller can see"),
    Rule("get_images", READER, "List the images the caller can see"),
    Rule("modify_image", OWNING_MEMBER, "Update an image, its tags"),
    Rule("delete_image", OWNING_MEMBER, "Delete an image"),
    Rule("upload_image", OWNING_MEMBER, "Upload image data"),
    Rule("download_image", READER, "Download image data"),
    Rule("stage_image", OWNING_MEMBER, "Stage data for an interoperable import"),
    Rule("import_image", OWNING_MEMBER, "Import staged or remote data"),
    Rule("stores_info_detail", ADMIN, "See where each store keeps its data"),
    Rule("publicize_image", ADMIN, "Make an image public"),
    Rule("communitize_image", OWNING_MEMBER, "Make an image community"),
    Rule("deactivate", OWNING_MEMBER, "Deactivate an image"),
    Rule("reactivate", OWNING_MEMBER, "Reactivate an image"),
    Rule("add_member", OWNING_MEMBER, "Share an image with a project"),
    Rule("delete_member", OWNING_MEMBER, "Stop sharing an image with a project"),
    Rule("get_member", READER, "Show an image member"),
    Rule("get_members", READER, "List an image's members"),
    Rule(
        "modify_member",
        "role:admin or (role:member and project_id:%(member_id)s)",
        "Accept or reject an image shared with the caller's project",
    ),
]
