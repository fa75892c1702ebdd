"""MemberMouse's API as its docs describe getMember (ours: no MemberMouse runs here): a form
POST to `request.php?q=/getMember` with `apikey`, `apisecret` and `member_id`, answering HTTP
200 with `{"response_code": "200", "response_message": "", "response_data": {...}}`, the
response code a string, or "409" when no member has that id. The docs name no answer for wrong
credentials: this fake says "403" with a message, and the client treats any message about
credentials as a refusal."""

from urllib.parse import parse_qs, urlsplit

from tests.support.json_http import JsonHandler, LoopbackServer

KEY, SECRET = "mm-key-41", "mm-secret-9c"
PATH = "/wp-content/plugins/membermouse/api/request.php"


class FakeMemberMouse(LoopbackServer):
    def __init__(self):
        self.members: dict[str, dict] = {}
        self.asked: list[str] = []
        fake = self

        class Handler(JsonHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                call = parse_qs(urlsplit(self.path).query).get("q", [""])[0]
                fake.asked.append(form.get("member_id", ""))
                if urlsplit(self.path).path != PATH or call != "/getMember":
                    return self.answer(404, {"response_code": "404"})
                if (form.get("apikey"), form.get("apisecret")) != (KEY, SECRET):
                    return self.answer(
                        200, {"response_code": "403", "response_message": "Invalid API credentials"}
                    )
                found = fake.members.get(form.get("member_id", ""))
                if found is None:
                    message = "Could not find member with the member ID or email address passed"
                    return self.answer(200, {"response_code": "409", "response_message": message})
                self.answer(
                    200, {"response_code": "200", "response_message": "", "response_data": found}
                )

        super().__init__(Handler)
        self.url += PATH

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
