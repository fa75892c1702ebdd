"""The trend chart: churn and failed-payment recovery over the last periods, per currency, as a
PNG that a markdown artifact carries inline (the Prefect UI renders `data:` images; it strips
inline SVG)."""

import base64
import io


def trend_png(rows: list[dict], title: str) -> bytes:
    """`rows`: one per period and currency, with `period_end`, `currency`, `churn_rate` and
    `recovery_rate` (None where there was nothing to measure)."""
    import matplotlib

    matplotlib.use("Agg")  # no screen: a worker renders to memory
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(8, 3.6), dpi=110)
    try:
        for currency in sorted({row["currency"] for row in rows}):
            mine = sorted((r for r in rows if r["currency"] == currency), key=_end)
            ends = [row["period_end"] for row in mine]
            for measure, label, style in (
                ("churn_rate", "member churn", "-o"),
                ("recovery_rate", "payments recovered", "--s"),
            ):
                values = [_percent(row[measure]) for row in mine]
                axes.plot(ends, values, style, label=f"{label} ({currency})", markersize=4)
        axes.set_title(title, fontsize=11)
        axes.set_ylabel("% of the period's base")
        axes.set_ylim(bottom=0)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
        figure.autofmt_xdate()
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        pyplot.close(figure)


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def _end(row: dict):
    return row["period_end"]


def _percent(value: float | None) -> float:
    return float("nan") if value is None else 100 * value
