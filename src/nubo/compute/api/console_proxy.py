"""The remote-console proxy's endpoints under /compute: the websockets a console URL's
token opens (``/console/websockify`` for noVNC, ``/console/serial``) and the noVNC page
(``/console/vnc_lite.html``, also ``vnc_auto.html``) with the noVNC library's modules.

The noVNC library (npm ``@novnc/novnc``, MPL-2.0) is not part of the source tree:
``tools/fetch_novnc.py`` (run by ``make run``) puts it in ``nubo/compute/novnc``.
Without it the page explains what to use instead.
"""

from __future__ import annotations

from pathlib import Path

from nubo.api.routing import ApiRequest, Reply, WebSocketRequest
from nubo.compute import console_proxy
from nubo.compute.api.common import router
from nubo.compute.service import ComputeService
from nubo.errors import NotFound

NOVNC_DIRS = (Path(__file__).resolve().parent.parent / "novnc",)
LIBRARY_PARTS = ("core", "vendor")

PAGE = b"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Console (noVNC)</title>
<style>
  html, body { margin: 0; height: 100%; background: #222; color: #ddd; font: 14px sans-serif; }
  body { display: flex; flex-direction: column; }
  #bar { display: flex; gap: 1em; align-items: center; padding: 4px 8px; background: #333; }
  #status { flex: 1; }
  #screen { flex: 1; overflow: hidden; }
</style>
</head>
<body>
<div id="bar">
  <span id="status">Connecting&hellip;</span>
  <button id="cad" type="button">Send Ctrl+Alt+Del</button>
</div>
<div id="screen"></div>
<script type="module">
// the console's websocket: ?path=<path relative to this host's root, with the token>
const query = new URLSearchParams(window.location.search);
const scheme = window.location.protocol === "https:" ? "wss" : "ws";
const url = `${scheme}://${window.location.host}/${(query.get("path") || "").replace(/^\\//, "")}`;
const status = document.getElementById("status");
let RFB = null;
try {
  RFB = (await import("./core/rfb.js")).default;
} catch (err) {
  status.textContent = "The noVNC library is not installed on this cloud (tools/fetch_novnc.py)."
    + " A VNC client that speaks websockets can connect to " + url;
}
if (RFB) {
  const rfb = new RFB(document.getElementById("screen"), url);
  rfb.scaleViewport = true;
  rfb.addEventListener("connect", () => { status.textContent = "Connected"; });
  rfb.addEventListener("disconnect", (e) => {
    status.textContent = e.detail.clean
      ? "Disconnected" : "Cannot reach the console (its link expires after a few minutes)";
  });
  rfb.addEventListener("desktopname", (e) => { document.title = e.detail.name; });
  document.getElementById("cad").onclick = () => rfb.sendCtrlAltDel();
}
</script>
</body>
</html>
"""


def _compute(ws: WebSocketRequest) -> ComputeService:
    svc: ComputeService = ws.app.state["compute"]
    return svc


@router.websocket(console_proxy.VNC_WEBSOCKET_PATH)
async def vnc_websocket(ws: WebSocketRequest) -> None:
    await console_proxy.serve(ws, _compute(ws), ("novnc",))


@router.websocket(console_proxy.SERIAL_WEBSOCKET_PATH)
async def serial_websocket(ws: WebSocketRequest) -> None:
    await console_proxy.serve(ws, _compute(ws), ("serial",))


@router.route("GET", console_proxy.VNC_PAGE_PATH, auth=False)
@router.route("GET", "/console/vnc_auto.html", auth=False)
def show_vnc_page(req: ApiRequest) -> Reply:
    return Reply(200, PAGE, {"cache-control": "no-store"}, "text/html; charset=utf-8")


@router.route("GET", "/console/{name:path}", auth=False)
def show_novnc_module(req: ApiRequest) -> Reply:
    """One of the noVNC library's JavaScript modules (``core/...``, ``vendor/...``)."""
    name = req.params["name"]
    if name.split("/", 1)[0] in LIBRARY_PARTS and name.endswith(".js"):
        for root in NOVNC_DIRS:
            path = (root / name).resolve()
            if path.is_relative_to(root.resolve()) and path.is_file():
                return Reply(200, path.read_bytes(), content_type="text/javascript; charset=utf-8")
    raise NotFound("The resource could not be found.")
