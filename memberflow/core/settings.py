"""Process settings: one `Settings` object read from `MEMBERFLOW_*` variables and `.env`."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Where memberflow keeps its data and how it talks about the business.

    Secrets for outputs and gateways live in Prefect Blocks, not here.
    """

    model_config = SettingsConfigDict(env_prefix="MEMBERFLOW_", env_file=".env", extra="ignore")

    database_url: str = Field("sqlite:///./memberflow.db", description="SQLAlchemy database URL.")
    templates_dir: Path = Field(PROJECT_ROOT / "templates", description="Jinja2 templates.")
    outbox_dir: Path = Field(Path("./outbox"), description="Where FileOutput writes .eml files.")
    business_name: str = Field("Example Club", description="Shown in every message.")
    from_address: str = Field("billing@example.com", description="Sender of every email.")
    support_email: str = Field("support@example.com", description="Support contact in messages.")
    portal_url: str = Field(
        "https://example.com/account/billing", description="Where members update payment details."
    )
    default_locale: str = Field("en", description="Locale for members without a supported one.")
    public_url: str = Field(
        "http://127.0.0.1:8787",
        description="Where members reach memberflow's own pages (unsubscribe): the ingress's URL.",
    )
    link_secret: SecretStr | None = Field(
        None,
        description="Signs the links in emails; unset, memberflow makes one and keeps it in the "
        "database (every process sharing the database then agrees on it).",
    )
    link_lifetime_days: int = Field(180, description="How long an unsubscribe link works.")
    cancel_alternatives: str = Field(
        "",
        description="The cancel page's one alternative per product and exit reason, as JSON "
        "(docs/cancel-page.md); empty: none, the page only cancels.",
    )
    cancel_carry_out_hours: int = Field(
        24,
        ge=1,
        description="A decision made on the cancel page not carried out at the provider within "
        "this many hours fails the cancel-moment flow (ops are told).",
    )
    claim_lease_seconds: float = Field(
        60,
        ge=1,
        description="How long a run's claim on a message lasts unless renewed: a crashed run's "
        "messages are taken over after this long (docs/scaling.md).",
    )
    shared_output_limits: bool = Field(
        False,
        description="Hold each output's max_concurrency and rate_limit across every worker with "
        "Prefect's global concurrency limits (`memberflow server share-limits <output>`).",
    )
    delivery_partitions: int = Field(
        1,
        ge=1,
        le=64,
        description="Split each delivery into this many id ranges run side by side on the task "
        "runner (1: one after the other, each batch overlapping its own sends).",
    )
    task_runner: Literal["threads", "dask"] = Field(
        "threads", description="Where partitions run: threads here, or Dask (the dask extra)."
    )
    dask_address: str | None = Field(
        None, description="A Dask scheduler (tcp://host:8786); empty: local worker processes."
    )
    contact_cap: str = Field(
        "1/3d,2/7d",
        description="At most N marketing messages per member per rolling window: N/<days>d, ...",
    )

    # The webhook ingress (`memberflow ingress serve`). A provider whose secret is unset is refused.
    stripe_webhook_secret: SecretStr | None = Field(
        None, description="Stripe's signing secret (whsec_...); old,new while rolling it."
    )
    memberpress_webhook_key: SecretStr | None = Field(
        None, description="MemberPress > Developer > Webhooks > Webhook Key."
    )
    membermouse_token: SecretStr | None = Field(
        None, description="A random token you put in the URL given to MemberMouse (?token=...)."
    )
    webhook_secret: SecretStr | None = Field(
        None, description="Signs memberflow-format webhooks from other systems."
    )

    # Reading the providers' APIs (`memberflow sync` and `reconcile`, their flows). Stripe's key
    # lives in its Gateway Block.
    memberpress_url: str | None = Field(
        None, description="The MemberPress site whose REST API a sync reads: https://example.com"
    )
    memberpress_api_key: SecretStr | None = Field(
        None, description="MemberPress > Developer > REST API key (an administrator's)."
    )
    membermouse_api_url: str | None = Field(
        None, description="MemberMouse > Developer Tools > API Credentials > API URL."
    )
    membermouse_api_key: SecretStr | None = Field(None, description="Its API key.")
    membermouse_api_secret: SecretStr | None = Field(None, description="Its API secret.")
    webhook_tolerance_seconds: int = Field(300, description="Oldest signature timestamp accepted.")
    ingress_max_body_bytes: int = Field(1_048_576, description="Larger webhooks get a 413.")
    currency: str = Field(
        "USD",
        description="Currency of amounts in webhooks that name none (MemberPress, MemberMouse).",
    )
    prefect_api_url: str | None = Field(
        None, description="Prefect's API for events; else PREFECT_API_URL or the Prefect profile."
    )

    def secret(self, name: str) -> str | None:
        """The value of a secret setting such as `stripe_webhook_secret`, or None when unset."""
        value = getattr(self, name)
        return value.get_secret_value() if value is not None else None

    def stripe_webhook_secrets(self) -> list[str]:
        """Stripe's signing secrets: two, comma-separated, while rolling one."""
        return [
            part.strip()
            for part in (self.secret("stripe_webhook_secret") or "").split(",")
            if part.strip()
        ]


@lru_cache
def get_settings() -> Settings:
    return Settings()
