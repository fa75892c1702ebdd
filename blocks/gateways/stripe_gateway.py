"""StripeGateway: pays an open invoice again through Stripe's official library."""

import logging
import time

import stripe
from pydantic import Field, SecretStr
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from blocks.gateways.base import PaymentGateway
from memberflow.core.charges import (
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    DecisionRequest,
    FinalActionRequest,
    OfferCodeRequest,
)
from memberflow.messaging.http import make_session

log = logging.getLogger(__name__)
RATE_LIMIT_ATTEMPTS = 4
# Stripe answers a payment that needs the member's bank (3-D Secure) with this error code.
NEEDS_AUTHENTICATION = "invoice_payment_intent_requires_action"


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


# The library itself retries connection errors, 409 and 5xx (`max_network_retries`), with the
# same idempotency key; it gives up on 429 at once, so rate limits are retried here.
_rate_limit_retry = retry(
    retry=retry_if_exception_type(stripe.RateLimitError),
    stop=stop_after_attempt(RATE_LIMIT_ATTEMPTS),
    wait=wait_exponential_jitter(initial=1, max=30),
    sleep=lambda seconds: _sleep(seconds),  # looked up at call time so tests can patch it
    before_sleep=lambda state: log.warning("Stripe rate limit; retry %s", state.attempt_number),
    reraise=True,
)


class StripeGateway(PaymentGateway):
    """Retries a failed invoice with Stripe's `POST /v1/invoices/{id}/pay`, with the case's
    idempotency key, so a replayed retry never charges twice.

    Example:
        ```python
        from blocks.gateways.stripe_gateway import StripeGateway
        gateway = StripeGateway.load("BLOCK_NAME")
        ```
    """

    _block_type_name = "memberflow Stripe Gateway"

    api_key: SecretStr = Field(
        title="API key", description="A restricted key (rk_...) with write access to Invoices."
    )
    api_base: str = Field(
        default="https://api.stripe.com",
        title="API base",
        description="Stripe's API address; change it only for a proxy or a test server.",
    )
    max_network_retries: int = Field(
        default=2, title="Network retries", description="Library retries of 409, 5xx, timeouts."
    )
    timeout_seconds: float = Field(
        default=30, title="Timeout (seconds)", description="Per request to Stripe."
    )

    def retry_charge(self, request: ChargeRequest) -> ChargeResult:
        client = self._client()
        try:
            invoice = self._pay(client, request)
        except stripe.CardError as error:
            return _declined(error)
        except stripe.RateLimitError:
            return ChargeResult(ChargeStatus.unavailable, message="Stripe rate limit (429)")
        except (stripe.AuthenticationError, stripe.PermissionError) as error:
            return ChargeResult(
                ChargeStatus.gateway_error,
                message=f"Stripe refused the API key (HTTP {error.http_status}): check the "
                "gateway block's API key and its permission to write Invoices",
            )
        except stripe.InvalidRequestError as error:
            return self._refused(client, request, error)
        except stripe.StripeError as error:  # API errors, connection failures after retries
            return ChargeResult(ChargeStatus.gateway_error, message=_describe(error))
        if invoice.status == "paid":
            return ChargeResult(ChargeStatus.succeeded)
        return ChargeResult(
            ChargeStatus.declined, message=f"Stripe left the invoice {invoice.status}"
        )

    def apply_final_action(self, request: FinalActionRequest) -> str:
        """`DELETE /v1/subscriptions/{id}` (cancel), `POST /v1/subscriptions/{id}` with
        `pause_collection[behavior]=void` (pause), or `POST /v1/invoices/{id}/mark_uncollectible`
        (unpaid), each with the case's idempotency key."""
        client, options = self._client(), {"idempotency_key": request.idempotency_key}
        if request.action == "cancel":
            done = client.v1.subscriptions.cancel(request.subscription_external_id, options=options)
            return f"Stripe subscription {done.id} {done.status}"
        if request.action == "pause":
            done = client.v1.subscriptions.update(
                request.subscription_external_id,
                params={"pause_collection": {"behavior": "void"}},
                options=options,
            )
            return f"Stripe subscription {done.id} collection paused"
        if request.action == "unpaid":
            done = client.v1.invoices.mark_uncollectible(
                request.invoice_external_id, options=options
            )
            return f"Stripe invoice {done.id} {done.status}"
        raise ValueError(f"unknown final action {request.action!r}")

    def carry_out_decision(self, request: DecisionRequest) -> str:
        """A cancel-page decision, with the decision's idempotency key: cancel at the period's
        end with `cancellation_details` (the reason as Stripe's feedback, the comment); pause
        collection until `resumes_at`; switch the first item's price from the next period, with
        no proration; or apply the discount (a promotion code `promo_...`, else a coupon)."""
        client, options = self._client(), {"idempotency_key": request.idempotency_key}
        subscription = request.subscription_external_id
        if request.decision == "cancel":
            details = {"feedback": request.feedback, "comment": request.comment}
            params = {
                "cancel_at_period_end": True,
                "cancellation_details": {k: v for k, v in details.items() if v},
            }
        elif request.decision == "pause":
            until = int(request.resumes_at.timestamp()) if request.resumes_at else None
            params = {"pause_collection": {"behavior": "void", "resumes_at": until}}
        elif request.decision == "switch":
            found = client.v1.subscriptions.retrieve(subscription)
            item = found["items"]["data"][0]["id"]
            params = {
                "items": [{"id": item, "price": request.price}],
                "proration_behavior": "none",
            }
        elif request.decision == "discount":
            kind = "promotion_code" if (request.code or "").startswith("promo_") else "coupon"
            params = {"discounts": [{kind: request.code}]}
        else:
            raise ValueError(f"unknown cancel-page decision {request.decision!r}")
        params = {k: v for k, v in params.items() if v not in (None, {})}
        done = client.v1.subscriptions.update(subscription, params=params, options=options)
        return f"Stripe subscription {done.id}: {request.decision} ({done.status})"

    def create_offer_code(self, request: OfferCodeRequest) -> str:
        """A promotion code of the coupon for this customer only, usable once, expiring with
        the offer (`POST /v1/promotion_codes`, with the idempotency key)."""
        code = self._promotion_code(self._client(), request)
        return code.code

    @_rate_limit_retry
    def _promotion_code(
        self, client: stripe.StripeClient, request: OfferCodeRequest
    ) -> stripe.PromotionCode:
        return client.v1.promotion_codes.create(
            params={
                "promotion": {"type": "coupon", "coupon": request.coupon},
                "customer": request.member_external_id,
                "expires_at": int(request.expires_at.timestamp()),
                "max_redemptions": 1,
                "metadata": {"memberflow_key": request.idempotency_key[:500]},
            },
            options={"idempotency_key": request.idempotency_key},
        )

    def _client(self) -> stripe.StripeClient:
        return stripe.StripeClient(
            self.api_key.get_secret_value(),
            base_addresses={"api": self.api_base},
            max_network_retries=self.max_network_retries,
            http_client=stripe.RequestsClient(session=make_session(), timeout=self.timeout_seconds),
        )

    @_rate_limit_retry
    def _pay(self, client: stripe.StripeClient, request: ChargeRequest) -> stripe.Invoice:
        return client.v1.invoices.pay(
            request.invoice_external_id, options={"idempotency_key": request.idempotency_key}
        )

    def _refused(
        self, client: stripe.StripeClient, request: ChargeRequest, error: stripe.StripeError
    ) -> ChargeResult:
        """A 400: most often the invoice was paid or voided meanwhile; else our request is wrong."""
        try:
            invoice = client.v1.invoices.retrieve(request.invoice_external_id)
        except stripe.StripeError:
            invoice = None
        if invoice is not None and invoice.status == "paid":
            return ChargeResult(ChargeStatus.already_paid, message="already paid at Stripe")
        if invoice is not None and invoice.status in ("void", "uncollectible"):
            return ChargeResult(
                ChargeStatus.declined, "invoice_" + invoice.status, message=_describe(error)
            )
        return ChargeResult(ChargeStatus.gateway_error, message=_describe(error))


def _declined(error: stripe.CardError) -> ChargeResult:
    body = (error.json_body or {}).get("error", {})
    code = body.get("decline_code") or body.get("code")
    if code == NEEDS_AUTHENTICATION:
        code = "authentication_required"
    return ChargeResult(
        ChargeStatus.declined,
        decline_code=code,
        advice_code=body.get("advice_code"),
        message=(body.get("message") or "")[:300] or None,
    )


def _describe(error: stripe.StripeError) -> str:
    body = (error.json_body or {}).get("error", {})
    parts = [f"HTTP {error.http_status}" if error.http_status else type(error).__name__]
    parts += [str(body[key]) for key in ("type", "code") if body.get(key)]
    message = body.get("message") or str(error.user_message or "")
    return f"Stripe: {' '.join(parts)}: {message}"[:500]
