"""A local stand-in for Stripe's API, in its real wire format: `POST /v1/invoices/{id}/pay`,
`GET /v1/invoices/{id}`, `POST /v1/promotion_codes`, `GET` and `POST /v1/subscriptions/{id}`
(cancel at period end with `cancellation_details`, `pause_collection` with `resumes_at`, an
item's price, `discounts`: localstripe answers 500 to `cancellation_details` and has no pause),
Stripe's error objects, and idempotency keys replayed like Stripe does.
The official library is pointed at it through the gateway's `api_base`."""

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]


def invoice_object(invoice_id: str, status: str) -> dict:
    paid = status == "paid"
    return {
        "id": invoice_id,
        "object": "invoice",
        "amount_due": 1999,
        "amount_paid": 1999 if paid else 0,
        "amount_remaining": 0 if paid else 1999,
        "attempt_count": 2,
        "attempted": True,
        "auto_advance": True,
        "collection_method": "charge_automatically",
        "currency": "usd",
        "customer": "cus_Q1a2B3c4D5e6F7",
        "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_1Nv0FG/test_{invoice_id}",
        "livemode": False,
        "status": status,
        "status_transitions": {"paid_at": 1764583200 if paid else None},
    }


def card_error(decline_code: str | None, code: str = "card_declined") -> dict:
    error = {
        "charge": "ch_3QfR2k2eZvKYlo2C0xYz1234",
        "code": code,
        "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
        "message": "Your card was declined.",
        "request_log_url": "https://dashboard.stripe.com/test/logs/req_8kLmNoPq",
        "type": "card_error",
    }
    if decline_code:
        error["decline_code"] = decline_code
        error["advice_code"] = "try_again_later" if decline_code == "insufficient_funds" else None
    return {"error": {k: v for k, v in error.items() if v is not None}}


ERRORS = {
    "rate_limit": (
        429,
        {
            "error": {
                "code": "rate_limit",
                "message": "Too many requests hit the API too quickly.",
                "type": "invalid_request_error",
            }
        },
    ),
    "api_error": (
        500,
        {"error": {"message": "An unknown error occurred", "type": "api_error"}},
    ),
    "bad_key": (
        401,
        {
            "error": {
                "message": "Invalid API Key provided: rk_test_****wxyz",
                "type": "invalid_request_error",
            }
        },
    ),
    "already_paid": (
        400,
        {"error": {"message": "Invoice is already paid", "type": "invalid_request_error"}},
    ),
}


class FakeStripe:
    """Each invoice answers from its script (then succeeds); a key seen before is replayed."""

    def __init__(self):
        self.calls: list[Call] = []
        self.scripts: dict[str, list] = {}  # invoice id -> answers: "paid", ERRORS key, or dict
        self.status: dict[str, str] = {}
        self.saved: dict[str, tuple[int, dict]] = {}  # idempotency key -> the first answer
        self.coupons: set[str] = {"winback_month"}
        self.subscriptions: dict[str, dict] = {
            "sub_1QfR2k2eZvKYlo2C": {
                "id": "sub_1QfR2k2eZvKYlo2C",
                "object": "subscription",
                "status": "past_due",
                "customer": "cus_Q1a2B3c4D5e6F7",
                "pause_collection": None,
                "canceled_at": None,
            }
        }
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                form = parse_qs(body)
                fake.calls.append(Call("POST", self.path, dict(self.headers), form))
                key = self.headers.get("Idempotency-Key")
                if self.path.startswith("/v1/promotion_codes"):
                    self._answer(*fake.promotion_code(form, key))
                elif self.path.startswith("/v1/subscriptions/"):
                    self._answer(*fake.subscription(self.path.split("/")[3], form, "POST"))
                elif self.path.endswith("/mark_uncollectible"):
                    invoice_id = self.path.split("/")[3]
                    fake.status[invoice_id] = "uncollectible"
                    self._answer(200, invoice_object(invoice_id, "uncollectible"))
                else:
                    self._answer(*fake.pay(self.path.split("/")[3], key))

            def do_DELETE(self):
                fake.calls.append(Call("DELETE", self.path, dict(self.headers), {}))
                self._answer(*fake.subscription(self.path.split("/")[3], {}, "DELETE"))

            def do_GET(self):
                fake.calls.append(Call("GET", self.path, dict(self.headers), {}))
                if self.path.startswith("/v1/subscriptions/"):
                    subscription_id = self.path.split("/")[3].split("?")[0]
                    return self._answer(*fake.subscription(subscription_id, {}, "GET"))
                invoice_id = self.path.split("/")[3].split("?")[0]
                self._answer(200, invoice_object(invoice_id, fake.status.get(invoice_id, "open")))

            def _answer(self, status, body, replayed=False):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Request-Id", "req_" + str(len(fake.calls)))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def pay(self, invoice_id: str, key: str | None) -> tuple[int, dict]:
        if key in self.saved:
            return self.saved[key]
        script = self.scripts.get(invoice_id, [])
        answer = script.pop(0) if script else "paid"
        if answer == "paid":
            self.status[invoice_id] = "paid"
            result = (200, invoice_object(invoice_id, "paid"))
        elif isinstance(answer, dict):
            result = (402, answer)
        else:
            result = ERRORS[answer]
        if result[0] not in (401, 429) and key:  # Stripe saves only requests it executed
            self.saved[key] = result
        return result

    def subscription(self, subscription_id: str, form: dict, method: str) -> tuple[int, dict]:
        """Cancel (DELETE) or update (POST) a subscription, as Stripe answers them."""
        if subscription_id not in self.subscriptions:
            return 404, {
                "error": {
                    "code": "resource_missing",
                    "message": f"No such subscription: '{subscription_id}'",
                    "type": "invalid_request_error",
                }
            }
        current = self.subscriptions[subscription_id]
        current.setdefault(
            "items",
            {"object": "list", "data": [{"id": "si_Q1a2B3", "price": {"id": "price_gold"}}]},
        )
        one = {name: values[0] for name, values in form.items()}
        if method == "DELETE":
            current |= {"status": "canceled", "canceled_at": 1764583200}
        if "pause_collection[behavior]" in one:
            resumes = one.get("pause_collection[resumes_at]")
            current["pause_collection"] = {
                "behavior": one["pause_collection[behavior]"],
                "resumes_at": int(resumes) if resumes else None,
            }
        if one.get("cancel_at_period_end") == "true":
            current["cancel_at_period_end"] = True
            current["cancellation_details"] = {
                "feedback": one.get("cancellation_details[feedback]"),
                "comment": one.get("cancellation_details[comment]"),
                "reason": "cancellation_requested",
            }
        if "items[0][price]" in one:
            current["items"]["data"][0]["price"] = {"id": one["items[0][price]"]}
            current["proration_behavior"] = one.get("proration_behavior")
        for kind in ("coupon", "promotion_code"):
            if f"discounts[0][{kind}]" in one:
                current["discounts"] = [{kind: one[f"discounts[0][{kind}]"]}]
        return 200, current

    def promotion_code(self, form: dict[str, list[str]], key: str | None) -> tuple[int, dict]:
        """Stripe's promotion code object; the coupon must exist (`self.coupons`)."""
        if key in self.saved:
            return self.saved[key]
        coupon = form.get("promotion[coupon]", [""])[0]
        if coupon not in self.coupons:
            return 400, {
                "error": {
                    "code": "resource_missing",
                    "message": f"No such coupon: '{coupon}'",
                    "param": "promotion[coupon]",
                    "type": "invalid_request_error",
                }
            }
        number = len(self.saved) + 1
        result = (
            200,
            {
                "id": f"promo_1QfR2k2eZvKYlo2C{number:04d}",
                "object": "promotion_code",
                "active": True,
                "code": f"{coupon.upper()}{number:04d}",
                "customer": form.get("customer", [None])[0],
                "expires_at": int(form["expires_at"][0]) if "expires_at" in form else None,
                "max_redemptions": int(form.get("max_redemptions", ["0"])[0]) or None,
                "promotion": {"type": "coupon", "coupon": coupon},
                "livemode": False,
                "metadata": {},
                "times_redeemed": 0,
            },
        )
        if key:
            self.saved[key] = result
        return result

    def posts(self) -> list[Call]:
        return [call for call in self.calls if call.method == "POST"]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
