"""What members answer in surveys, whoever asked: the exit reasons (Stripe's eight feedback
values map onto them) and the 0 to 10 satisfaction scores. The survey pipeline asks; the
ingress also takes answers collected by outside tools (a Typeform through Zapier)."""

SURVEYS = ("exit", "nps")
REASONS = (
    "too_expensive",
    "unused",
    "missing_features",
    "switched_service",
    "technical_issues",
    "customer_service",
    "too_complex",
    "other",
)
STRIPE_FEEDBACK = {
    "too_expensive": "too_expensive",
    "unused": "unused",
    "missing_features": "missing_features",
    "switched_service": "switched_service",
    "low_quality": "technical_issues",
    "customer_service": "customer_service",
    "too_complex": "too_complex",
    "other": "other",
}
SCORES = tuple(str(score) for score in range(11))


def valid_answer(survey: str, answer: str) -> bool:
    return answer in (REASONS if survey == "exit" else SCORES if survey == "nps" else ())


def provider_answer(feedback: str | None, comment: str | None) -> str | None:
    """The reason a member gave at the provider (Stripe's feedback), or `other` for a comment
    alone; None when they gave none."""
    if feedback:
        return STRIPE_FEEDBACK.get(feedback, "other")
    return "other" if comment else None
