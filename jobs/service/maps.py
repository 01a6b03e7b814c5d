"""Write a projection (its `to_dict()` form) as JSON, a static PNG, or an HTML map; pick its colours."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

# The same twelve colours as the web page's scatter (scatter.js), so a category keeps its colour.
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac", "#17becf", "#8c564b"]
FORMATS = (".png", ".html", ".json")
# A column with more values than this in a sample is a label (a title, a URL), not a category.
MAX_CATEGORIES = 24
_HERE = Path(__file__).parent


def write_map(data: dict, out: str | Path) -> Path:
    """Write the map in the format the file name's extension names."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"--out must end in {', '.join(FORMATS)}, got {out.name!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    {".png": write_png, ".html": write_html, ".json": write_json}[suffix](data, out)
    return out


def category_column(sample: pa.Table, max_categories: int = MAX_CATEGORIES) -> str | None:
    """The first text, bool or dictionary column of the sample with 2..max_categories values."""
    for name in sample.column_names:
        kind = sample.schema.field(name).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)
                or pa.types.is_boolean(kind) or pa.types.is_dictionary(kind)):
            continue
        values = pc.unique(sample.column(name).combine_chunks().drop_null())
        if 2 <= len(values) <= min(max_categories, max(sample.num_rows // 2, 2)):
            return name
    return None


def write_json(data: dict, out: Path) -> None:
    """The projection as JSON."""
    out.write_text(json.dumps(data, default=str))


def title_of(data: dict) -> str:
    """'docs v3 · 5,000 of 12,000 rows · UMAP cosine, 15 neighbours · trustworthiness 0.934'."""
    trust = data.get("trustworthiness")
    unit = data.get("points_are", "rows")  # a chunked table's map has a point per document
    return (f"{data['table']} v{data['version']} · {data['n']:,} of {data['rows']:,} {unit} · UMAP cosine, "
            f"{data['n_neighbors']} neighbours, min_dist {data['min_dist']}"
            + (f" · trustworthiness {trust:.3f}" if trust is not None else ""))


def write_png(data: dict, out: Path) -> None:
    """A static scatter (matplotlib, no display needed) with a legend or colour bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = data["points"]
    xs, ys = [p["x"] for p in points], [p["y"] for p in points]
    size = max(1.5, min(12.0, 6000 / max(len(points), 1)))
    fig, ax = plt.subplots(figsize=(9, 8), dpi=110)
    colors = data.get("colors")
    if colors and colors["kind"] == "category":
        for index, category in enumerate(colors["categories"]):
            chosen = [p for p in points if p.get("color") == category]
            ax.scatter([p["x"] for p in chosen], [p["y"] for p in chosen], s=size, alpha=0.8,
                       color=PALETTE[index % len(PALETTE)], label=f"{category} ({len(chosen)})",
                       linewidths=0)
        ax.legend(title=data["color_by"], loc="best", fontsize=8, markerscale=max(1, 12 / size))
    elif colors and colors["kind"] == "number":
        values = [p.get("color") for p in points]
        shown = ax.scatter(xs, ys, c=[float("nan") if v is None else v for v in values], s=size,
                           cmap="viridis", alpha=0.85, linewidths=0)
        fig.colorbar(shown, ax=ax, label=data["color_by"])
    else:
        ax.scatter(xs, ys, s=size, alpha=0.7, color=PALETTE[0], linewidths=0)
    ax.set_title(title_of(data), fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def write_html(data: dict, out: Path) -> None:
    """One offline HTML file: a canvas scatter; hovering shows a point's text."""
    payload = json.dumps(data, default=str).replace("</", "<\\/")  # cannot close the script tag
    page = (_HERE / "map.html").read_text()
    page = page.replace("/*SCATTER*/", (_HERE / "scatter.js").read_text())
    page = page.replace("__TITLE__", _escape(title_of(data))).replace("/*DATA*/null", payload)
    out.write_text(page)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
