"""Raw HTTP against a nubo cloud, with tokens and admin helpers for setting up tests."""

from __future__ import annotations

import functools
import uuid
from typing import TYPE_CHECKING, Any

import httpx

from .common import V3, unique_name

if TYPE_CHECKING:
    from .conftest import NuboCloud

ADMIN: Any = object()  # "the cached admin token" (pass token=None for no token)


class Http:
    """httpx against the cloud, with tokens and admin helpers for setting up tests.

    Paths not starting with ``/`` are relative to ``/identity/v3``; requests carry
    the admin token unless ``token=`` says otherwise (``None``: no token).
    """

    def __init__(self, c: NuboCloud) -> None:
        self.cloud = c
        self.client = httpx.Client(base_url=c.base_url, timeout=30.0)
        self._tokens: dict[str, str] = {}
        self._roles: dict[str, str] = {}

    @staticmethod
    def url(path: str) -> str:
        return path if path.startswith(("/", "http://", "https://")) else f"{V3}/{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        token: Any = ADMIN,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        hdrs = dict(headers or {})
        if token is ADMIN:
            token = self.admin_token
        if token is not None:
            hdrs["X-Auth-Token"] = token
        return self.client.request(method, self.url(path), headers=hdrs, **kwargs)

    get = functools.partialmethod(request, "GET")
    head = functools.partialmethod(request, "HEAD")
    post = functools.partialmethod(request, "POST")
    put = functools.partialmethod(request, "PUT")
    patch = functools.partialmethod(request, "PATCH")
    delete = functools.partialmethod(request, "DELETE")

    @staticmethod
    def expect(response: httpx.Response, status: int) -> Any:
        """Assert the status; return the decoded body (None when empty)."""
        assert response.status_code == status, (
            f"{response.request.method} {response.request.url} -> "
            f"{response.status_code} (expected {status}): {response.text}"
        )
        return response.json() if response.content else None

    # -- tokens ----------------------------------------------------------------------

    @staticmethod
    def password_body(
        password: str,
        *,
        name: str | None = None,
        user_id: str | None = None,
        domain_id: str = "default",
        scope: Any = None,
    ) -> dict[str, Any]:
        user: dict[str, Any] = (
            {"id": user_id} if user_id else {"name": name, "domain": {"id": domain_id}}
        )
        user["password"] = password
        auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {"user": user}}}
        if scope is not None:
            auth["scope"] = scope
        return {"auth": auth}

    def password_auth(
        self, name: str | None, password: str, *, nocatalog: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """POST /v3/auth/tokens with the password method (no token sent)."""
        body = self.password_body(password, name=name, **kwargs)
        path = "auth/tokens?nocatalog=true" if nocatalog else "auth/tokens"
        return self.post(path, token=None, json=body)

    def token(self, name: str | None, password: str, **kwargs: Any) -> str:
        """Issue a token (``scope=``, ``user_id=``, ``domain_id=`` as password_body)."""
        r = self.password_auth(name, password, **kwargs)
        self.expect(r, 201)
        return r.headers["x-subject-token"]

    def rescope(self, token: str, scope: Any = None) -> httpx.Response:
        """POST /v3/auth/tokens with the token method."""
        auth: dict[str, Any] = {"identity": {"methods": ["token"], "token": {"id": token}}}
        if scope is not None:
            auth["scope"] = scope
        return self.post("auth/tokens", token=None, json={"auth": auth})

    def _cached(self, name: str, password: str, project: str) -> str:
        if name not in self._tokens:
            scope = {"project": {"name": project, "domain": {"id": "default"}}}
            self._tokens[name] = self.token(name, password, scope=scope)
        return self._tokens[name]

    @property
    def admin_token(self) -> str:
        """The admin user's token on the admin project (cached)."""
        return self._cached("admin", self.cloud.admin_password, "admin")

    @property
    def demo_token(self) -> str:
        """The demo user's token on the demo project (role member; cached)."""
        return self._cached("demo", self.cloud.demo_password, "demo")

    def validate(self, subject: str, *, token: Any = ADMIN, query: str = "") -> httpx.Response:
        """GET /v3/auth/tokens for ``subject``."""
        path = "auth/tokens" + (f"?{query}" if query else "")
        return self.get(path, token=token, headers={"X-Subject-Token": subject})

    def is_valid(self, subject: str) -> bool:
        """Whether the admin sees ``subject`` as a valid token (HEAD: 200 or 404)."""
        r = self.head("auth/tokens", headers={"X-Subject-Token": subject})
        assert r.status_code in (200, 404), f"HEAD /v3/auth/tokens -> {r.status_code}"
        return r.status_code == 200

    # -- setting up resources as admin ---------------------------------------------------

    def create(self, collection: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = self.expect(self.post(collection, json={key: body}), 201)[key]
        return data

    def make_project(self, name: str | None = None, **fields: Any) -> dict[str, Any]:
        return self.create("projects", "project", {"name": name or unique_name("proj"), **fields})

    def make_domain(self, name: str | None = None, **fields: Any) -> dict[str, Any]:
        return self.create("domains", "domain", {"name": name or unique_name("dom"), **fields})

    def make_group(self, name: str | None = None, **fields: Any) -> dict[str, Any]:
        return self.create("groups", "group", {"name": name or unique_name("grp"), **fields})

    def make_role(self, name: str | None = None, **fields: Any) -> dict[str, Any]:
        return self.create("roles", "role", {"name": name or unique_name("role"), **fields})

    def make_user(
        self,
        name: str | None = None,
        *,
        password: str | None = None,
        project_id: str | None = None,
        role: str = "member",
        **fields: Any,
    ) -> dict[str, Any]:
        """A user with a password; given ``project_id``, also ``role`` on that project.
        The returned dict carries the ``password``."""
        password = password or uuid.uuid4().hex
        user = self.create(
            "users", "user", {"name": name or unique_name("user"), "password": password, **fields}
        )
        if project_id:
            self.grant(role, user=user["id"], project=project_id)
        return {**user, "password": password}

    def role_id(self, name: str) -> str:
        """The id of a global role by name."""
        if name not in self._roles:
            roles = self.expect(self.get(f"roles?name={name}"), 200)["roles"]
            assert roles, f"no role named {name}"
            self._roles[name] = roles[0]["id"]
        return self._roles[name]

    def set_project_limit(
        self, service_type: str, project_name: str, resource: str, limit: int
    ) -> None:
        """Give a project its own unified limit on a resource of a catalog service."""
        services = self.expect(self.get("services"), 200)["services"]
        service_id = next(s["id"] for s in services if s["type"] == service_type)
        projects = self.expect(self.get("projects", params={"name": project_name}), 200)
        body = {
            "service_id": service_id,
            "project_id": projects["projects"][0]["id"],
            "resource_name": resource,
            "resource_limit": limit,
        }
        self.expect(self.post("limits", json={"limits": [body]}), 201)

    def grant_path(
        self,
        role: str,
        *,
        user: str | None = None,
        group: str | None = None,
        project: str | None = None,
        domain: str | None = None,
        system: bool = False,
        inherited: bool = False,
    ) -> str:
        role_id = role if len(role) == 32 and role.isalnum() else self.role_id(role)
        actor = f"users/{user}" if user else f"groups/{group}"
        if system:
            return f"system/{actor}/roles/{role_id}"
        target = f"projects/{project}" if project else f"domains/{domain}"
        if inherited:
            return f"OS-INHERIT/{target}/{actor}/roles/{role_id}/inherited_to_projects"
        return f"{target}/{actor}/roles/{role_id}"

    def grant(self, role: str, **where: Any) -> None:
        """Give ``role`` (a name or id) to user=/group= on project=/domain=/system=True."""
        self.expect(self.put(self.grant_path(role, **where)), 204)

    def revoke(self, role: str, **where: Any) -> None:
        self.expect(self.delete(self.grant_path(role, **where)), 204)

    def close(self) -> None:
        self.client.close()
