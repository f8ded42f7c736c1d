"""Drive the perception node with a camera-rate image stream and measure what it keeps up with.

:func:`stream` runs the node in this process beside a publisher thread that sends one image at
``rate`` Hz (each with a fresh stamp) and a subscriber that records every gene: which frame it
came from and how old that frame was when the gene arrived. ``genevlm bench-node`` prints it as
a Markdown table for BENCHMARKS.md; tests/test_node.py asserts on the same report.

Everything runs in its own rclpy context on its own ROS domain and namespace, so parallel runs
and other ROS graphs on the machine do not cross-talk.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter
from std_msgs.msg import String

from .node import IMAGE_QOS, GeneNode, image_msg
from .perception import Stats


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux ``/proc``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise OSError("VmRSS missing from /proc/self/status")


@dataclass
class StreamReport:
    """What a stream run saw. ``genes``: per received gene (arrival - start s, frame index,
    age of that frame at arrival s, s it waited in the node's buffer, s from its arrival at the
    node to its gene's publication); ``stats``: the node's own counters at the end; ``rss_mb``:
    (seconds since start, MB) samples."""

    rate: float
    seconds: float
    sent: int
    genes: list[tuple[float, int, float, float, float]]
    stats: dict[str, Any]
    rss_mb: list[tuple[float, float]] = field(default_factory=list)

    def table(self, title: str) -> str:
        """One Markdown row per run: sent, received, processed, dropped, lost, rate, age."""
        s = self.stats
        ages = np.array([g[2] for g in self.genes]) * 1e3
        growth = self.rss_mb[-1][1] - self.rss_mb[len(self.rss_mb) // 4][1]
        return (f"| {title} | {self.rate:g} | {self.seconds:g} | {self.sent} | {s['received']} | "
                f"{s['processed']} | {s['dropped']} | {self.sent - s['received']} | "
                f"{s['processed'] / self.seconds:.2f} | {s['latency_p50_ms']:.0f} / "
                f"{s['latency_p95_ms']:.0f} | {np.median(ages):.0f} / "
                f"{np.percentile(ages, 95):.0f} | {growth:+.1f} |")


#: GIL switch interval while streaming (``sys.setswitchinterval``), so that the sender thread
#: and the node's executor get the GIL within a fraction of a frame period (measured on a 2-core
#: Intel Xeon: the 30 Hz test failed at 5, 2, 1 and 0.5 ms on some runs, 6 of 6 passed at 0.2).
SENDER_SWITCH_INTERVAL_S = 0.0002
TABLE_HEADER = ("| run | input Hz | s | frames sent | received | processed | dropped (newest-frame "
                "buffer) | lost in transport | processed Hz | latency p50 / p95 ms | gene age at "
                "arrival p50 / p95 ms | RSS growth MB (last 3/4) |\n"
                "|---|---|---|---|---|---|---|---|---|---|---|---|")


def stream(params: dict[str, Any], pixels: np.ndarray, rate: float = 30.0,
           seconds: float = 10.0, encoding: str = "rgb8", domain_id: int | None = None
           ) -> StreamReport:
    """Run the node with ``params`` (parameter overrides) and stream ``pixels`` at ``rate`` Hz
    for ``seconds``; wait for the node's first gene before the clock starts (model warm-up)."""
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    # The sender shares the GIL with the node's executor and worker threads in this process;
    # at the default 5 ms switch interval they held it long enough that the sender could not
    # keep 30 Hz on a 2-core Intel Xeon (47-134 of 180 frames sent in 6 s)
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(SENDER_SWITCH_INTERVAL_S)
    try:
        return _stream(params, pixels, rate, seconds, encoding, domain_id)
    finally:
        sys.setswitchinterval(switch_interval)


def _stream(params: dict[str, Any], pixels: np.ndarray, rate: float, seconds: float,
            encoding: str, domain_id: int | None) -> StreamReport:
    context = Context()
    rclpy.init(context=context, domain_id=domain_id if domain_id is not None
               else 100 + uuid.uuid4().int % 100)
    namespace = f"/bench_{uuid.uuid4().hex[:8]}"
    try:
        node = GeneNode(context=context, namespace=namespace,
                        parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    except BaseException:
        rclpy.shutdown(context=context)
        raise
    client = rclpy.create_node("stream_client", namespace=namespace, context=context)
    executor = MultiThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(client)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()

    publisher = client.create_publisher(type(image_msg(pixels, encoding)), "image", IMAGE_QOS)
    sent_at: dict[tuple[int, int], tuple[int, float]] = {}
    genes: list[tuple[float, int, float, float, float]] = []
    first = threading.Event()
    clock = {"start": time.monotonic()}

    def on_gene(msg: String) -> None:
        out = json.loads(msg.data)
        stamp = out["header"]["stamp"]
        index, published = sent_at.get((stamp["sec"], stamp["nanosec"]), (-1, float("nan")))
        now = time.monotonic()
        genes.append((now - clock["start"], index, now - published, out["queue_ms"] / 1e3,
                      out["latency_ms"] / 1e3))
        first.set()

    client.create_subscription(String, "gene", on_gene, 10)
    try:
        sent = 0
        while not first.is_set():  # warm-up: one frame a second until the model answers
            sent_at[_send(publisher, client, pixels, encoding)] = (-1, time.monotonic())
            first.wait(1.0)
        _wait_idle(node, 0)
        genes.clear()
        node.pipeline.stats = Stats()  # counters and latencies of the measured window only
        received, dropped = node.buffer.received, node.buffer.dropped
        clock["start"] = start = time.monotonic()
        rss: list[tuple[float, float]] = []
        while (t := time.monotonic() - start) < seconds:
            stamp = _send(publisher, client, pixels, encoding)
            sent_at[stamp] = (sent, time.monotonic())
            sent += 1
            if sent % max(int(rate), 1) == 0:
                rss.append((t, rss_mb()))
            time.sleep(max(start + sent / rate - time.monotonic(), 0.0))
        _wait_idle(node, received - dropped)
        rss.append((time.monotonic() - start, rss_mb()))
        stats = node.pipeline.stats.snapshot(node.buffer)
        stats["received"] -= received
        stats["dropped"] -= dropped
        return StreamReport(rate, seconds, sent, [g for g in genes if g[1] >= 0], stats, rss)
    finally:
        executor.shutdown()
        node.destroy_node()
        client.destroy_node()
        rclpy.shutdown(context=context)
        spinner.join(5.0)


def _wait_idle(node: GeneNode, taken_before: int, timeout: float = 30.0) -> None:
    """Until every frame the node received is processed or dropped (none pending, none in
    the worker), so counters before and after add up exactly; ``taken_before``: frames taken
    before the current statistics started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats, buffer = node.pipeline.stats, node.buffer
        taken = buffer.received - buffer.dropped - taken_before
        if stats.processed + stats.bad_frames + stats.failures == taken:
            return
        time.sleep(0.01)
    raise TimeoutError(f"the node did not finish its frames within {timeout} s")


def _send(publisher: Any, node: Any, pixels: np.ndarray, encoding: str) -> tuple[int, int]:
    stamp = node.get_clock().now().to_msg()
    publisher.publish(image_msg(pixels, encoding, stamp))
    return stamp.sec, stamp.nanosec
