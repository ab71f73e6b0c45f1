"""Application credentials, access rules, credentials and EC2 credentials."""

from __future__ import annotations

from nubo.api.context import AuthInfo
from nubo.api.routing import ApiRequest, Reply
from nubo.errors import BadRequest, NotFound, Unauthorized
from nubo.identity import schemas, views
from nubo.identity.api.common import NO_CONTENT, identity, listing, one, page, route

APP_CREDS = "/v3/users/{user_id}/application_credentials"
ACCESS_RULES = "/v3/users/{user_id}/access_rules"
EC2 = "/v3/users/{user_id}/credentials/OS-EC2"


def _auth(req: ApiRequest) -> AuthInfo:
    if req.ctx.auth is None:
        raise Unauthorized()
    return req.ctx.auth


# -- application credentials ---------------------------------------------------


@route(
    "POST",
    APP_CREDS,
    policy="identity:create_application_credential",
    body=schemas.APPLICATION_CREDENTIAL_CREATE,
)
def create_application_credential(req: ApiRequest) -> Reply:
    cred = identity(req).credentials.create_app_cred(
        req.params["user_id"], req.json()["application_credential"], _auth(req)
    )
    return one("application_credential", views.application_credential(req.service_url, cred), 201)


@route("GET", APP_CREDS, policy="identity:list_application_credentials")
def list_application_credentials(req: ApiRequest) -> Reply:
    pg = page(req, ("id", "name"), "name")
    rows = identity(req).credentials.list_app_creds(req.params["user_id"], req.query, pg)
    return listing(req, "application_credentials", rows, views.application_credential, pg)


def _enforce_app_cred(req: ApiRequest, rule: str) -> None:
    """Policy on the credential's real owner, not on the user the path names, so a
    caller cannot reach someone else's credential by putting their own id in the path."""
    row = identity(req).credentials.find_app_cred(req.params["application_credential_id"])
    owner = row.user_id if row is not None else req.params["user_id"]
    req.enforce(rule, {"user_id": owner})


@route("GET", APP_CREDS + "/{application_credential_id}")
def get_application_credential(req: ApiRequest) -> Reply:
    _enforce_app_cred(req, "identity:get_application_credential")
    cred = identity(req).credentials.get_app_cred(
        req.params["user_id"], req.params["application_credential_id"]
    )
    return one("application_credential", views.application_credential(req.service_url, cred))


@route("DELETE", APP_CREDS + "/{application_credential_id}")
def delete_application_credential(req: ApiRequest) -> Reply:
    _enforce_app_cred(req, "identity:delete_application_credential")
    identity(req).credentials.delete_app_cred(
        req.params["user_id"], req.params["application_credential_id"], _auth(req)
    )
    return NO_CONTENT


# -- access rules ---------------------------------------------------------------


@route("GET", ACCESS_RULES, policy="identity:list_access_rules")
def list_access_rules(req: ApiRequest) -> Reply:
    rows = identity(req).credentials.list_access_rules(req.params["user_id"], req.query)
    return listing(req, "access_rules", rows, views.access_rule)


@route("GET", ACCESS_RULES + "/{access_rule_id}", policy="identity:get_access_rule")
def get_access_rule(req: ApiRequest) -> Reply:
    row = identity(req).credentials.get_access_rule(
        req.params["user_id"], req.params["access_rule_id"]
    )
    return one("access_rule", views.access_rule(req.service_url, row))


@route("DELETE", ACCESS_RULES + "/{access_rule_id}", policy="identity:delete_access_rule")
def delete_access_rule(req: ApiRequest) -> Reply:
    identity(req).credentials.delete_access_rule(
        req.params["user_id"], req.params["access_rule_id"]
    )
    return NO_CONTENT


# -- credentials ----------------------------------------------------------------


def _is_admin(req: ApiRequest) -> bool:
    """Admins may tie credentials to any user and project; the service layer holds
    everyone else to projects the credential's owner has a role on."""
    return req.allowed("admin_required")


def _credential_target(user_id: str | None) -> dict[str, object]:
    return {"credential": {"user_id": user_id}}


def _enforce_credential(req: ApiRequest, rule: str) -> None:
    row = identity(req).credentials.find_credential(req.params["credential_id"])
    if row is None:
        # only callers allowed to see any credential learn that this one is missing
        req.enforce(rule, {"credential": {}})
        raise NotFound(f"Could not find credential: {req.params['credential_id']}.")
    req.enforce(rule, _credential_target(row.user_id))


@route("POST", "/v3/credentials", body=schemas.CREDENTIAL_CREATE)
def create_credential(req: ApiRequest) -> Reply:
    data = req.json()["credential"]
    req.enforce("identity:create_credential", _credential_target(data["user_id"]))
    cred = identity(req).credentials.create_credential(
        data, is_admin=_is_admin(req), auth=_auth(req)
    )
    return one("credential", views.credential(req.service_url, cred), 201)


@route("GET", "/v3/credentials")
def list_credentials(req: ApiRequest) -> Reply:
    """Admins and system readers see every credential, anyone else only their own."""
    auth = _auth(req)
    query = dict(req.query)
    req.enforce("identity:list_credentials", _credential_target(query.get("user_id", auth.user_id)))
    if not req.allowed("identity:list_credentials", {"credential": {}}):
        query["user_id"] = auth.user_id
    pg = page(req, ("id", "type"), "id")
    rows = identity(req).credentials.list_credentials(query, pg)
    return listing(req, "credentials", rows, views.credential, pg)


@route("GET", "/v3/credentials/{credential_id}")
def get_credential(req: ApiRequest) -> Reply:
    _enforce_credential(req, "identity:get_credential")
    cred = identity(req).credentials.get_credential(req.params["credential_id"])
    return one("credential", views.credential(req.service_url, cred))


@route("PATCH", "/v3/credentials/{credential_id}", body=schemas.CREDENTIAL_UPDATE)
def update_credential(req: ApiRequest) -> Reply:
    changes = req.json()["credential"]
    if "id" in changes and changes["id"] != req.params["credential_id"]:
        raise BadRequest("Cannot change the id of a credential.")
    _enforce_credential(req, "identity:update_credential")
    if "user_id" in changes:
        # handing a credential to another user needs the right on that user too
        req.enforce("identity:update_credential", _credential_target(changes["user_id"]))
    cred = identity(req).credentials.update_credential(
        req.params["credential_id"], changes, is_admin=_is_admin(req), auth=_auth(req)
    )
    return one("credential", views.credential(req.service_url, cred))


@route("DELETE", "/v3/credentials/{credential_id}")
def delete_credential(req: ApiRequest) -> Reply:
    _enforce_credential(req, "identity:delete_credential")
    identity(req).credentials.delete_credential(req.params["credential_id"])
    return NO_CONTENT


# -- EC2 credentials (OS-EC2) ---------------------------------------------------


@route("POST", EC2, policy="identity:ec2_create_credential", body=schemas.EC2_CREDENTIAL_CREATE)
def create_ec2_credential(req: ApiRequest) -> Reply:
    cred = identity(req).credentials.create_ec2(
        req.params["user_id"], req.json()["tenant_id"], _auth(req)
    )
    return one("credential", views.ec2_credential(req.service_url, cred), 201)


@route("GET", EC2, policy="identity:ec2_list_credentials")
def list_ec2_credentials(req: ApiRequest) -> Reply:
    rows = identity(req).credentials.list_ec2(req.params["user_id"])
    return listing(req, "credentials", rows, views.ec2_credential)


def _enforce_ec2(req: ApiRequest, rule: str) -> None:
    row = identity(req).credentials.find_ec2(req.params["access"])
    owner = row.user_id if row is not None else req.params["user_id"]
    req.enforce(rule, _credential_target(owner))


@route("GET", EC2 + "/{access}")
def get_ec2_credential(req: ApiRequest) -> Reply:
    _enforce_ec2(req, "identity:ec2_get_credential")
    cred = identity(req).credentials.get_ec2(req.params["user_id"], req.params["access"])
    return one("credential", views.ec2_credential(req.service_url, cred))


@route("DELETE", EC2 + "/{access}")
def delete_ec2_credential(req: ApiRequest) -> Reply:
    _enforce_ec2(req, "identity:ec2_delete_credential")
    identity(req).credentials.delete_ec2(req.params["user_id"], req.params["access"])
    return NO_CONTENT
