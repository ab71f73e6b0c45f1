"""Network agents: /v2.0/agents (admin only)."""

from __future__ import annotations

from nubo.api.routing import ApiRequest, Reply
from nubo.network import agents
from nubo.network.api.common import body, caller, filters, list_of, route, service, show


@route("GET", "/v2.0/agents")
def list_agents(req: ApiRequest) -> Reply:
    return list_of(req, "agents", agents.list_agents(service(req), caller(req), filters(req)))


@route("GET", "/v2.0/agents/{agent_id}")
def show_agent(req: ApiRequest) -> Reply:
    return show(req, "agent", agents.get_agent(service(req), caller(req), req.params["agent_id"]))


@route("PUT", "/v2.0/agents/{agent_id}")
def update_agent(req: ApiRequest) -> Reply:
    attrs = body(req, "agent", agents.ATTRS, update=True)
    updated = agents.update_agent(service(req), caller(req), req.params["agent_id"], attrs)
    return show(req, "agent", updated)


@route("DELETE", "/v2.0/agents/{agent_id}")
def delete_agent(req: ApiRequest) -> Reply:
    agents.delete_agent(service(req), caller(req), req.params["agent_id"])
    return Reply(204)
