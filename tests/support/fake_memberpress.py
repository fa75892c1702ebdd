"""A MemberPress site's Developer Tools REST API, in its wire format (ours: there is no
MemberPress to run here). `GET /wp-json/mp/v1/{members,subscriptions,transactions}` with
`page` and `per_page`, answering JSON arrays (a short page is the last), the
`MEMBERPRESS-API-KEY` header checked as MemberPress does (401 with WordPress's error envelope).
Objects are shaped as MemberPress writes them: numbers as strings, dates as GMT "Y-m-d H:i:s",
a transaction's subscription naming its membership by id."""

from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from tests.support.json_http import JsonHandler, LoopbackServer

KEY = "mp-key-3f9a"
SILVER = {
    "id": 1257,
    "title": "Silver Membership",
    "price": "12.00",
    "period": "1",
    "period_type": "months",
}


def _date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


class FakeMemberPress(LoopbackServer):
    def __init__(self):
        self.members: list[dict] = []
        self.subscriptions: list[dict] = []
        self.transactions: list[dict] = []
        self.asked: list[str] = []
        self.down = False  # answers 503, as a site in maintenance does
        fake = self

        class Handler(JsonHandler):
            def do_GET(self):
                address = urlsplit(self.path)
                fake.asked.append(self.path)
                query = {k: v[0] for k, v in parse_qs(address.query).items()}
                resource = address.path.removeprefix("/wp-json/mp/v1/")
                if self.headers.get("MEMBERPRESS-API-KEY") != KEY:
                    error = {
                        "code": "mp_rest_unauthorized",
                        "message": "Sorry, you are not allowed to do that.",
                        "data": {"status": 401},
                    }
                    return self.answer(401, error)
                if fake.down:
                    return self.answer(503, {"code": "maintenance"})
                listed = {
                    "members": fake.members,
                    "subscriptions": fake.subscriptions,
                    "transactions": fake.transactions,
                }.get(resource)
                if listed is None:
                    error = {
                        "code": "rest_no_route",
                        "message": "No route was found matching the URL and request method.",
                        "data": {"status": 404},
                    }
                    return self.answer(404, error)
                page, per_page = int(query.get("page", 1)), int(query.get("per_page", 10))
                self.answer(200, listed[(page - 1) * per_page : page * per_page])

        super().__init__(Handler)

    def add_member(
        self, n: int, now: datetime, *, status: str = "active", paid: bool = True
    ) -> dict:
        """Member `n` on Silver since 40 days before `now`, paid monthly: two completed
        payments (the latest paid through 20 days after `now`), or a failed one last."""
        member = {
            "id": 2000 + n,
            "email": f"m{n}@example.com",
            "username": f"m{n}",
            "first_name": f"Member{n}",
            "last_name": "Test",
            "display_name": f"Member{n}",
            "registered_at": _date(now - timedelta(days=40)),
            "active_memberships": [],
        }
        started = now - timedelta(days=40)
        subscription = {
            "id": 500 + n,
            "subscr_id": f"mp-sub-{n:05d}",
            "member": member,
            "membership": SILVER,
            "gateway": "stripe-gw",
            "price": "12.00",
            "period": "1",
            "period_type": "months",
            "status": status,
            "created_at": _date(started),
            "total": "12.00",
            "cc_last4": "4242",
            "cc_exp_month": "8",
            "cc_exp_year": "2030",
        }
        self.members.append(member)
        self.subscriptions.append(subscription)
        for month in (0, 1):
            self.pay(n, started + timedelta(days=30 * month), paid or month == 0)
        return subscription

    def pay(self, n: int, when: datetime, paid: bool) -> dict:
        member = next(m for m in self.members if m["id"] == 2000 + n)
        txn = {
            "id": str(9000 + len(self.transactions)),
            "member": member,
            "membership": SILVER,
            "subscription": {
                "id": str(500 + n),
                "membership": str(SILVER["id"]),
                "member": str(member["id"]),
                "price": "12.00",
                "period": "1",
                "period_type": "months",
                "status": "active",
            },
            "amount": "12.00",
            "total": "12.00",
            "status": "complete" if paid else "failed",
            "txn_type": "payment",
            "gateway": "stripe-gw",
            "trans_num": f"ch_{n}_{when:%j}",
            "created_at": _date(when),
            "expires_at": _date(when + timedelta(days=30)),
        }
        self.transactions.append(txn)
        return txn
