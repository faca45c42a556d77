"""Plotly figures for the pages: DataFrame in, Figure out (testable without a browser)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from core.provider_names import provider_label

LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), legend_title_text="", hovermode="closest")
DIM_LABEL = {"request_model": "Model", "provider_name": "Provider", "feature": "Feature"}




def _empty(title: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, **LAYOUT)
    fig.add_annotation(text="No data for these filters", showarrow=False, x=0.5, y=0.5,
                       xref="paper", yref="paper")
    return fig


def daily_cost(df: pd.DataFrame, by: str) -> go.Figure:
    title = f"Daily cost by {DIM_LABEL[by].lower()}"
    if df.empty:
        return _empty(title)
    d = df.groupby(["day", by], as_index=False)["cost_usd"].sum()
    if by == "provider_name":
        d[by] = d[by].map(provider_label)
    order = d.groupby(by)["cost_usd"].sum().sort_values(ascending=False).index.tolist()
    fig = px.bar(d, x="day", y="cost_usd", color=by, category_orders={by: order},
                 labels={"cost_usd": "Cost (USD)", "day": "", by: DIM_LABEL[by]}, title=title)
    fig.update_layout(barmode="stack", yaxis_tickprefix="$", **LAYOUT)
    return fig


def latency_over_time(df: pd.DataFrame, percentile: str) -> go.Figure:
    title = f"Latency {percentile} per model (successful calls)"
    if df.empty:
        return _empty(title)
    fig = px.line(df.sort_values("day"), x="day", y=percentile, color="request_model",
                  labels={percentile: f"{percentile} (ms)", "day": "", "request_model": "Model"},
                  title=title, markers=False)
    fig.update_layout(**LAYOUT)
    return fig


def cost_vs_latency(models: pd.DataFrame) -> go.Figure:
    title = "Cost vs latency per model"
    if models.empty:
        return _empty(title)
    d = models.copy()
    d["provider"] = d["provider_name"].map(provider_label)
    fig = px.scatter(d, x="p95", y="cost_per_1k", size="requests", color="provider",
                     hover_name="request_model", text="request_model",
                     labels={"p95": "p95 latency (ms)", "cost_per_1k": "Cost per 1,000 requests (USD)"},
                     title=title, size_max=40)
    fig.update_traces(textposition="top center")
    fig.update_layout(yaxis_tickprefix="$", **LAYOUT)
    return fig


def error_rate_by_provider(providers: pd.DataFrame, error_types: pd.DataFrame) -> go.Figure:
    title = "Errors by provider and type"
    if providers.empty or error_types.empty:
        return _empty(title)
    d = error_types.merge(providers[["provider_name", "requests"]], on="provider_name")
    d["rate"] = d["n"] / d["requests"]
    d["provider"] = d["provider_name"].map(provider_label)
    fig = px.bar(d, x="provider", y="rate", color="error_type", title=title,
                 labels={"rate": "Error rate", "provider": "", "error_type": "Error type"},
                 hover_data={"n": True})
    fig.update_layout(barmode="stack", yaxis_tickformat=".1%", **LAYOUT)
    return fig


def error_timeline(timeline: pd.DataFrame) -> go.Figure:
    title = "Error rate over time"
    if timeline.empty:
        return _empty(title)
    d = timeline.copy()
    d["provider"] = d["provider_name"].map(provider_label)
    fig = px.line(d, x="period", y="error_rate", color="provider", title=title,
                  labels={"error_rate": "Error rate", "period": ""},
                  hover_data={"requests": True, "errors": True})
    fig.update_layout(yaxis_tickformat=".0%", **LAYOUT)
    return fig


def top_features(features: pd.DataFrame) -> go.Figure:
    title = "Most expensive features"
    if features.empty:
        return _empty(title)
    d = features.sort_values("cost_usd")
    fig = px.bar(d, x="cost_usd", y="feature", orientation="h", title=title,
                 labels={"cost_usd": "Cost (USD)", "feature": ""},
                 hover_data={"requests": True, "share": ":.1%"}, text_auto="$.2s")
    fig.update_layout(xaxis_tickprefix="$", **LAYOUT)
    return fig


def price_vs_speed(points: pd.DataFrame) -> go.Figure:
    """The catalog's models: blended price against p95 latency, bubble size by requests
    (columns Model, Provider, Price, p95 ms, Requests; see core.catalog.view.scatter_frame)."""
    if points.empty:
        return _empty("Price vs speed: no model has both a price and measured latency")
    fig = px.scatter(points, x="Price", y="p95 ms", color="Provider", size="Requests",
                     size_max=30, hover_name="Model",
                     labels={"Price": "Price ($ per Mtok, 3:1 blend)",
                             "p95 ms": "p95 latency (ms)"},
                     title="Price vs speed (bubble size: requests)")
    fig.update_layout(height=380, margin={"t": 50, "b": 10})
    return fig


# ---- Compare --------------------------------------------------------------------------------
# The Compare page's figures: a run's latency, accuracy-vs-cost frontier and per-item scores,
# and accuracy across past runs.


def compare_latency(frame: pd.DataFrame) -> go.Figure | None:
    """Latency of the successful calls per model (None: no call succeeded)."""
    ok = frame[frame["status"] == "ok"]
    if ok.empty:
        return None
    return px.box(ok, x="Model", y="duration_ms", points="outliers",
                  title="Latency distribution", labels={"duration_ms": "Latency (ms)"})


def compare_pareto(points: dict[str, tuple[float, float]], frontier: list[str]) -> go.Figure:
    """Accuracy against cost per request, one labelled point per model, the Pareto frontier
    (``frontier``: model names, cheapest first) circled and joined.

    Every label stays inside the plot: the axes are padded beyond the points (above the most
    accurate one, right of the dearest) and labels near the right edge grow leftwards, near
    the left edge rightwards, so none is clipped at the chart's edge."""
    costs = [c for _, c in points.values()]
    top_cost = max(costs, default=0.0) or 1e-6  # all free (local models): any scale will do
    x_range = [0.0, top_cost * PARETO_X_PAD]

    def position(cost: float) -> str:
        share = cost / x_range[1]
        return "top left" if share > 0.6 else "top right" if share < 0.2 else "top center"

    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=[points[k][1] for k in frontier], y=[points[k][0] for k in frontier],
        mode="lines+markers", name="Pareto frontier", line={"dash": "dot"},
        marker={"size": 16, "symbol": "circle-open"}, hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=costs, y=[a for a, _ in points.values()],
        mode="markers+text", text=[k.rsplit("/", 1)[-1] for k in points],
        textposition=[position(c) for c in costs], cliponaxis=False, name="models",
        marker={"size": 10}, customdata=list(points),
        hovertemplate="%{customdata}<br>accuracy %{y:.2f}<br>$%{x:.6f} per request"
                      "<extra></extra>"))
    fig.update_layout(title="Accuracy vs cost (circled: the Pareto frontier)",
                      xaxis_title="$ per request", yaxis_title="Accuracy",
                      yaxis={"range": [0, PARETO_Y_TOP]}, xaxis={"range": x_range},
                      showlegend=False, margin={"l": 60, "r": 40, "t": 60})
    return fig


PARETO_X_PAD = 1.25  # the x axis ends a quarter beyond the dearest model: room for its label
PARETO_Y_TOP = 1.15  # a label above a point at accuracy 1.0 still fits under the top


def compare_item_scores(frame: pd.DataFrame) -> go.Figure | None:
    """Mean score per item (rows) and model (columns); None when nothing was scored."""
    heat = frame.pivot_table(index="item_id", columns="Model", values="score", aggfunc="mean")
    if heat.empty:
        return None
    fig = px.imshow(heat, color_continuous_scale="RdYlGn", zmin=0, zmax=1, aspect="auto",
                    title="Score per item (mean over iterations)")
    # every item gets its label (Plotly's automatic ticks would skip every other one)
    items = [str(i) for i in heat.index]
    fig.update_yaxes(tickmode="array", tickvals=items, ticktext=items, automargin=True,
                     tickfont={"size": HEAT_TICK_PX})
    fig.update_xaxes(tickmode="array", tickvals=list(heat.columns),
                     ticktext=[str(c) for c in heat.columns])
    # a row per item tall enough for its label, on top of the title and the model axis
    fig.update_layout(height=HEAT_CHROME_PX + HEAT_ROW_PX * len(heat),
                      margin={"t": 60, "b": 60})
    return fig


HEAT_TICK_PX = 12  # item labels' font size
HEAT_ROW_PX = 22  # a row per item: its label (12 px text) with room to spare
HEAT_CHROME_PX = 160  # title, model axis and margins around the rows


def compare_runs_accuracy(table: pd.DataFrame) -> go.Figure:
    """Accuracy per model and run with 95% interval bars (``compare_runs``' table)."""
    return px.bar(table, x="Model", y="Accuracy", color="Run", barmode="group",
                  error_y=table["Accuracy high"] - table["Accuracy"],
                  error_y_minus=table["Accuracy"] - table["Accuracy low"],
                  title="Accuracy per model and run (bars: 95% interval)")
