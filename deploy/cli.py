"""Command line of ``python -m deploy``: the local multi-replica cluster and the chart's query."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tritonize.cli_errors import debug_option, report
from tritonize.errors import TritonizeError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@debug_option()
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Scale-out tools: a local cluster behind a real load balancer, and the Helm chart's autoscaling query."""
    ctx.obj = debug


@main.command("cluster-demo")
@click.option("--repository", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=Path("model_repository"), envvar="TRITONIZE_REPOSITORY", show_envvar=True,
              help="Model repository each replica serves (copied per replica, never written).")
@click.option("--model", required=True, help="Model to load (an ensemble: text in).")
@click.option("--replicas", type=click.IntRange(2, 4), default=2, help="Triton replicas behind HAProxy.")
@click.option("--workers", type=click.IntRange(1, 64), default=4, help="Concurrent clients.")
@click.option("--load-seconds", type=click.FloatRange(min=1), default=10.0,
              help="Seconds of load before a replica is killed.")
@click.option("--window", default="5s", help="Range of the query's deltas (the chart's default is 30s).")
@click.pass_context
def cluster_demo(ctx: click.Context, repository: Path, model: str, replicas: int, workers: int, load_seconds: float,
                 window: str) -> None:
    """Replicas behind HAProxy, scraped by Prometheus, under load: kill one, roll a new version, count failures.

    Serves REPOSITORY with --replicas local Triton servers on free loopback ports behind HAProxy (health checks on
    /v2/health/ready, retries on the other replica), scraped by Prometheus every second; loads them, kills one
    replica and restarts it, rolls a new model version replica by replica, prints requests, failures and the
    chart's autoscaling metric before, during and after the load, and stops everything it started.
    """
    from deploy.cluster import ClusterSettings, LocalCluster
    from deploy.scenario import run_scenario, table

    def log(line: str) -> None:
        click.echo(line, err=True)

    settings = ClusterSettings(replicas=replicas, window=window)
    try:
        with LocalCluster(repository, settings, log=log) as cluster:
            log(f"HAProxy on {cluster.balancer.url}, Prometheus on {cluster.prometheus.url}")
            outcome = run_scenario(cluster, model, workers=workers, load_seconds=load_seconds, log=log)
    except TritonizeError as error:
        raise report(error, ctx.obj, ctx) from None
    click.echo(table(outcome))
    if outcome.failed:
        sys.exit(1)


@main.command("query")
@click.option("--window", default="30s", help="Range of the deltas.")
@click.option("--label-matchers", default=None, help="PromQL label matchers (default: the chart's).")
@click.option("--release", default="tritonize", help="Helm release name.")
@click.option("--namespace", default="default", help="Namespace of the release.")
@click.pass_context
def query(ctx: click.Context, window: str, label_matchers: str | None, release: str, namespace: str) -> None:
    """Print the chart's autoscaling query as KEDA sends it to Prometheus."""
    from deploy.chart import queue_time_query

    try:
        click.echo(queue_time_query(window, label_matchers, release, namespace))
    except TritonizeError as error:
        raise report(error, ctx.obj, ctx) from None
