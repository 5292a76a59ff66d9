"""Screenshots of the web UI at phone and desktop width, through chromedriver
(WebDriver over HTTP, standard library only). Called by bench/web_pages.sh.
Usage: ui_screenshots.py BASE_URL COOKIE OUT_DIR MEMBER_ID RULE_ID"""
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

base, cookie, out_dir, member, rule, door = sys.argv[1:7]
name, value = cookie.split("=", 1)
pages = {
    "login": "/login",
    "dashboard": "/",
    "members": "/members",
    "member": f"/members/{member}",
    "rule": f"/rules/{rule}",
    "new-rule": "/rules/new?type=time_window",
    "approvals": "/approvals",
    "overrides": "/overrides",
    "doors": "/doors",
    "door": f"/doors/{door}",
    "audit-log": "/audit-log",
    "allowlist": "/allowlist?uid=04A1B2C3D4E5F6",
    "settings": "/settings",
    "me": "/me",
}
sizes = {"phone": (390, 844), "desktop": (1280, 900)}

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
driver = subprocess.Popen(["chromedriver", f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
wd = f"http://127.0.0.1:{port}"


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(wd + path, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)["value"]


try:
    for _ in range(100):
        try:
            call("GET", "/status")
            break
        except OSError:
            time.sleep(0.1)
    for size, (w, h) in sizes.items():
        profile = tempfile.mkdtemp()
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--hide-scrollbars", f"--window-size={w},{h}", f"--user-data-dir={profile}"]
        options = {"binary": "/usr/bin/chromium", "args": args}
        if size == "phone":
            # Desktop Chromium will not open a window narrower than 500 px.
            options["mobileEmulation"] = {"deviceMetrics": {"width": w, "height": h, "pixelRatio": 1}}
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}}
        session = call("POST", "/session", caps)["sessionId"]
        call("POST", f"/session/{session}/url", {"url": base + "/login"})
        for page, path in pages.items():
            if page != "login":
                call("POST", f"/session/{session}/cookie", {"cookie": {"name": name, "value": value, "path": "/"}})
            call("POST", f"/session/{session}/url", {"url": base + path})
            shot = call("GET", f"/session/{session}/screenshot")
            target = os.path.join(out_dir, f"{page}-{size}.png")
            with open(target, "wb") as f:
                f.write(base64.b64decode(shot))
            print(target)
        call("DELETE", f"/session/{session}")
finally:
    driver.kill()
