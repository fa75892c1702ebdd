"""MemberMouse's API as its docs describe getMember (ours: no MemberMouse runs here): a form
POST to `request.php?q=/getMember` with `apikey`, `apisecret` and `member_id`, answering HTTP
200 with `{"response_code": "200", "response_message": "", "response_data": {...}}`, the
response code a string, or "409" when no member has that id. The docs name no answer for wrong
credentials: this fake says "403" with a message, and the client treats any message about
credentials as a refusal."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

KEY, SECRET = "mm-key-41", "mm-secret-9c"
PATH = "/wp-content/plugins/membermouse/api/request.php"


class FakeMemberMouse:
    def __init__(self):
        self.members: dict[str, dict] = {}
        self.asked: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                call = parse_qs(urlsplit(self.path).query).get("q", [""])[0]
                fake.asked.append(form.get("member_id", ""))
                if urlsplit(self.path).path != PATH or call != "/getMember":
                    return self._answer(404, {"response_code": "404"})
                if (form.get("apikey"), form.get("apisecret")) != (KEY, SECRET):
                    return self._answer(
                        200, {"response_code": "403", "response_message": "Invalid API credentials"}
                    )
                found = fake.members.get(form.get("member_id", ""))
                if found is None:
                    message = "Could not find member with the member ID or email address passed"
                    return self._answer(200, {"response_code": "409", "response_message": message})
                self._answer(
                    200, {"response_code": "200", "response_message": "", "response_data": found}
                )

            def _answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}{PATH}"

    def add(self, member_id: int, *, status: str = "1", level: str = "3") -> dict:
        """A member as getMember answers: status 1 active, 2 canceled, 9 pending cancellation."""
        names = {"1": "Active", "2": "Canceled", "4": "Paused", "9": "Pending Cancellation"}
        member = {
            "member_id": str(member_id),
            "first_name": f"Member{member_id}",
            "last_name": "Test",
            "email": f"mm{member_id}@example.com",
            "username": f"mm{member_id}",
            "registered": "2026-01-15 10:00:00",
            "status": status,
            "status_name": names.get(status, "Active"),
            "is_complimentary": "false",
            "membership_level": level,
            "membership_level_name": "Gold Level",
            "billing_country": "US",
        }
        self.members[str(member_id)] = member
        return member

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
