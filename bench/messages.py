"""10,000 messages of one automation (`cashback.available`) through the worker, to e-mail and to
WhatsApp: the SMTP sink of the tests (tests/fake_smtp.py: STARTTLS and a login, in a process of
its own) and the fake Graph API (tests/fake_whatsapp.py, which checks every request against the
approved template and answers after 20 ms).

Measures messages per second per channel, two ways: over the worker's whole run (from its start,
start-up, the sweep and the fan-out of the events included, to its exit once nothing is due), and
from the first answer recorded to the last (the sending alone); and the worker's CPU time per
message. Every message must arrive exactly once (the sink's count, the fake's numbers and ids) and
end `sent` after one attempt, or the round fails. Target: >= 500 per second on each channel.

    .venv/bin/python bench/messages.py [--messages 10000] [--latency 0.02] [--batch 100] [--rounds 3]
        [--channels email,whatsapp] [--database-url postgresql://...] [--against DIR] [--profile P]
        [--py-spy P]

Each round seeds a fresh database (`retorno demo`, then bella's shoppers, each with one credit
usable at once and consent to the channel; the ledger's sweep announces the credits: one
`cashback.available` event each) and runs `retorno worker --until-idle` in a process of its own,
pinned to CPU 0 (taskset). The sink (taskset) and the WhatsApp fake (a thread of this process,
os.sched_setaffinity) share CPU 1. The automation goes by the measured channel only, and bella's
quiet hours are switched off and the weekly cap set to none for the run: the worker runs on the
real clock, and a round at night in Sao Paulo would otherwise hold every message until 9:00.

`--database-url` runs on that PostgreSQL database instead of a throw-away SQLite file; it is
EMPTIED first (DROP SCHEMA public CASCADE) in every round. PostgreSQL itself is not pinned.
`--against DIR` runs another checkout too (`git worktree add DIR <rev>`), round by round, and
reports after / before per round. `--profile P` runs the worker under cProfile (P.<channel>.prof);
`--py-spy P` under py-spy (`.venv/bin/pip install py-spy`), its collapsed stacks in P.<channel>.txt
(the CPU figures then count py-spy's own).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import LOAD_CPU, REPO, SERVER_CPU, BenchError

sys.path.insert(0, str(REPO))

from tests.fake_whatsapp import ThreadedFakeWhatsApp

KIND = "cashback.available"
NUMBER_ID, TOKEN = "1098765432", "EAAGbenchtoken"
WORKER = ["taskset", "-c", SERVER_CPU, sys.executable, "-m", "retorno", "worker", "--until-idle"]
CHUNK = 500  # shoppers seeded per transaction
TARGET = 500.0


def _address(channel: str, i: int) -> str:
    return f"cliente{i}@example.com" if channel == "email" else f"+55119{i:08d}"


async def _seed(env: dict[str, str], channel: str, count: int) -> int:
    """bella's automation by `channel` only, `count` shoppers with consent and one credit each, and
    the ledger's sweep (the `cashback.available` events); how many events are due."""
    from retorno import db
    from retorno.brands import service as brands
    from retorno.customers import service as customers
    from retorno.ledger import posting
    from retorno.ledger import sweep as ledger
    from retorno.messages import settings as message_settings
    from retorno.messages import texts
    from retorno.settings import load_settings

    now = dt.datetime.now(dt.UTC)
    async with db.connected(db.make_engine(load_settings(env))):
        brand = await brands.get_brand("bella")
        await message_settings.save_settings(
            brand_id=brand.id,
            quiet_start="00:00",  # start == end: no quiet hours (see the docstring)
            quiet_end="00:00",
            weekly_cap=0,
            whatsapp_number_id=NUMBER_ID if channel == "whatsapp" else "",
            whatsapp_token=TOKEN if channel == "whatsapp" else "",
            now=now,
        )
        spec = texts.AUTOMATIONS[KIND]
        await message_settings.save_automation(
            brand_id=brand.id,
            kind=KIND,
            enabled=True,
            channels=[channel],
            days="",
            lang=brand.locale,
            written=texts.defaults(spec, brand.locale),
            now=now,
        )
        column = "email" if channel == "email" else "phone"
        at = now - dt.timedelta(hours=1)

        async def chunk(start: int, end: int) -> None:
            for i in range(start, end):
                rows = await db.fetch(
                    f"INSERT INTO customers (brand, {column}, name, created_at, updated_at) "
                    "VALUES ({}, {}, {}, {}, {}) RETURNING id",
                    brand.id,
                    _address(channel, i),
                    f"Cliente{i} Souza",
                    now,
                    now,
                )
                customer_id = rows[0]["id"]
                await customers.record_consents(
                    brand.id, customer_id, {channel: True}, source="counter", now=now
                )
                await posting.credit(
                    brand=brand,
                    customer_id=customer_id,
                    amount=1500 + i % 1000,
                    source="adjustment",
                    at=at,
                    now=now,
                    pending=False,
                    kind="adjustment",
                    breakdown={"reason": "bench"},
                    note="bench",
                )

        for start in range(0, count, CHUNK):
            await db.write(lambda start=start: chunk(start, min(count, start + CHUNK)))
        await ledger.sweep(brands=[brand], now=now)
        rows = await db.fetch(
            "SELECT kind, COUNT(*) AS n FROM outbox_events WHERE done_at IS NULL GROUP BY kind"
        )
        due = {r["kind"]: r["n"] for r in rows}
        if due != {KIND: count}:
            raise BenchError(f"expected {count} {KIND} events due, found {due}")
        return count


async def _outcome(env: dict[str, str]) -> dict[str, Any]:
    """The messages as the worker left them."""
    from retorno import db
    from retorno.settings import load_settings

    async with db.connected(db.make_engine(load_settings(env))):
        states = await db.fetch(
            "SELECT state, channel, attempts, reason, COUNT(*) AS n FROM messages "
            "GROUP BY state, channel, attempts, reason"
        )
        providers = await db.fetch("SELECT provider_id FROM messages WHERE provider_id IS NOT NULL")
        # Answers are recorded a batch at a time: the first batch's time starts the clock, and
        # what it recorded is not counted in the rate from first to last.
        times = await db.fetch(
            "SELECT sent_at, COUNT(*) AS n FROM messages GROUP BY sent_at ORDER BY sent_at"
        )
    return {
        "states": {(r["state"], r["channel"], r["attempts"], r["reason"]): r["n"] for r in states},
        "providers": [r["provider_id"] for r in providers],
        "times": [(r["sent_at"], r["n"]) for r in times if r["sent_at"] is not None],
    }


class _Sink:
    """`python -m tests.fake_smtp` on LOAD_CPU: a process of its own, so aiosmtpd's work is not
    counted in the worker's CPU nor competes with the fake's thread for the GIL."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            ["taskset", "-c", LOAD_CPU, sys.executable, "-m", "tests.fake_smtp"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.address = json.loads(self.process.stdout.readline())

    def counts(self) -> dict[str, int]:
        """Closes its standard input: it prints what it took and exits."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        counts = json.loads(self.process.stdout.readline())
        self.process.wait(timeout=10)
        return counts

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _whatsapp_fake(latency: float) -> ThreadedFakeWhatsApp:
    from retorno.messages import texts

    fake = ThreadedFakeWhatsApp(latency=latency)
    body = texts.defaults(texts.AUTOMATIONS[KIND], "pt-BR")["whatsapp"]
    parameters = len(texts.VARIABLE.findall(body["body"]))
    fake.call(fake.service.add_account, NUMBER_ID, TOKEN)
    fake.call(fake.service.approve, body["template"], "pt_BR", parameters)
    return fake


def _steady(times: list[tuple[dt.datetime, int]]) -> float:
    """Messages per second from the first answers recorded to the last (start-up left out)."""
    if len(times) < 2:
        return 0.0
    span = (times[-1][0] - times[0][0]).total_seconds()
    return sum(n for _, n in times[1:]) / span if span > 0 else 0.0


def _reset_postgres(url: str) -> None:
    subprocess.run(
        [
            "psql",
            url,
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "DROP SCHEMA public CASCADE; CREATE SCHEMA public",
        ],
        check=True,
        capture_output=True,
    )


def one_round(
    channel: str,
    count: int,
    latency: float,
    batch: int,
    database_url: str | None,
    profile: str = "",
    py_spy: str = "",
) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="retorno-messages-") as tmp:
        env = {
            **os.environ,
            "RETORNO_DATABASE_URL": database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}",
            "RETORNO_ENV": "development",
        }
        if database_url:
            _reset_postgres(database_url)
        subprocess.run(
            [sys.executable, "-m", "retorno", "demo"], env=env, cwd=REPO, check=True, capture_output=True
        )
        seeding = time.perf_counter()
        asyncio.run(_seed(env, channel, count))
        seeding = time.perf_counter() - seeding
        sink = _Sink() if channel == "email" else None
        fake = _whatsapp_fake(latency) if channel == "whatsapp" else None
        try:
            if sink is not None:
                env |= {
                    "RETORNO_SMTP_URL": sink.address["url"],
                    "RETORNO_SMTP_CA_FILE": sink.address["ca_file"],
                }
            if fake is not None:
                env["RETORNO_WHATSAPP_API_URL"] = fake.service.base_url
            # RUSAGE_CHILDREN counts children already waited for: the worker, not the sink (yet).
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            command = [*WORKER, "--batch", str(batch)]
            if profile:  # the same worker under cProfile (slower; for where the time goes, not figures)
                command[4:6] = ["-m", "cProfile", "-o", f"{profile}.{channel}.prof", "-m", "retorno"]
            if py_spy:  # sampled: the proportions without cProfile's distortion (py-spy installed by hand)
                spy = str(Path(sys.executable).with_name("py-spy"))
                out = f"{py_spy}.{channel}.txt"
                command = [spy, "record", "-r", "250", "-f", "raw", "-o", out, "--", *command]
            done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if done.returncode != 0:
                raise BenchError(f"the worker failed:\n{done.stdout}{done.stderr[-4000:]}")
            outcome = asyncio.run(_outcome(env))
            sink_cpu = 0.0
            if sink is not None:
                waited = resource.getrusage(resource.RUSAGE_CHILDREN)
                arrived = sink.counts()["messages"]
                distinct = arrived  # the sink counts without keeping: the rows' attempts say "once"
                done_sink = resource.getrusage(resource.RUSAGE_CHILDREN)
                sink_cpu = (done_sink.ru_utime - waited.ru_utime) + (done_sink.ru_stime - waited.ru_stime)
            else:
                assert fake is not None
                received = fake.call(lambda: list(fake.service.received))
                arrived = len(received)
                per = collections.Counter(r.to for r in received)
                expected = {_address("whatsapp", i).lstrip("+") for i in range(count)}
                if set(per) != expected or set(per.values()) != {1}:
                    raise BenchError(
                        f"{len(per)} of {count} numbers got a message; copies {set(per.values())}"
                    )
                distinct = len(per)
                if {r.wamid for r in received} != set(outcome["providers"]):
                    raise BenchError("the messages' provider ids are not the fake's wamids")
                if refused := fake.call(lambda: list(fake.service.refused)):
                    raise BenchError(f"the fake refused {len(refused)} requests: {refused[:3]}")
        finally:
            if sink is not None:
                sink.kill()
            if fake is not None:
                fake.close()
    if outcome["states"] != {("sent", channel, 1, ""): count} or arrived != count or distinct != count:
        raise BenchError(
            f"{arrived} of {count} arrived; messages by (state, channel, attempts): {outcome['states']}"
        )
    if len(set(outcome["providers"])) != count:
        raise BenchError(f"{len(set(outcome['providers']))} distinct provider ids for {count} messages")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "rate": count / wall,
        "wall": wall,
        "cpu_ms": cpu / count * 1000,
        "seeding": seeding,
        "peer_cpu_ms": sink_cpu / count * 1000,
        "steady": _steady(outcome["times"]),
    }


def _against(args: argparse.Namespace, channels: list[str]) -> int:
    """This tree and `args.against` (another checkout) side by side: each round runs both, one
    round of this script each in a process of its own with that tree's backend first on
    PYTHONPATH, alternating which goes first; the ratio per round is after's rate over before's."""
    trees = {"after": REPO, "before": Path(args.against).resolve()}
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for n in range(1, args.rounds + 1):
        order = ["before", "after"] if n % 2 else ["after", "before"]
        for channel in channels:
            for which in order:
                env = {**os.environ, "PYTHONPATH": str(trees[which] / "backend")}
                command = [sys.executable, __file__, "--rounds", "1", "--channels", channel, "--json"]
                command += ["--messages", str(args.messages), "--latency", str(args.latency)]
                command += ["--batch", str(args.batch)]
                if args.database_url:
                    command += ["--database-url", args.database_url]
                done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
                if done.returncode not in (0, 1) or not done.stdout.strip():
                    raise BenchError(f"{which} failed:\n{done.stdout}{done.stderr[-4000:]}")
                result = json.loads(done.stdout)[channel][0]
                results.setdefault((channel, which), []).append(result)
                print(
                    f"round {n} {channel} {which}: {result['rate']:,.0f} messages/s, "
                    f"{result['cpu_ms']:.2f} ms CPU each",
                    file=sys.stderr,
                )
    print(
        "| channel | before: messages/s (rounds) | after: messages/s (rounds) | after / before, median "
        "| worker CPU per message, before → after |"
    )
    print("|---|---:|---:|---:|---:|")
    for channel in channels:
        before, after = results[(channel, "before")], results[(channel, "after")]
        ratio = statistics.median(a["rate"] / b["rate"] for a, b in zip(after, before, strict=True))
        print(
            f"| {channel} | {_median_and_rounds(before)} | {_median_and_rounds(after)} | {ratio:.2f} | "
            f"{statistics.median(r['cpu_ms'] for r in before):.2f} → "
            f"{statistics.median(r['cpu_ms'] for r in after):.2f} ms |"
        )
    return 0


def _median_and_rounds(results: list[dict[str, float]]) -> str:
    each = ", ".join(f"{r['rate']:,.0f}" for r in results)
    return f"{statistics.median(r['rate'] for r in results):,.0f} ({each})"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=10_000)
    p.add_argument("--latency", type=float, default=0.02, help="the WhatsApp fake's answer delay (s)")
    p.add_argument(
        "--batch", type=int, default=100, help="messages per claim, 2 lanes (the worker's --batch)"
    )
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--channels", default="email,whatsapp")
    p.add_argument("--database-url", help="a PostgreSQL database to use instead (it is emptied first)")
    p.add_argument("--profile", default="", metavar="PREFIX", help="write PREFIX.<channel>.prof (cProfile)")
    p.add_argument(
        "--py-spy", default="", metavar="PREFIX", help="write PREFIX.<channel>.txt (py-spy's raw stacks)"
    )
    p.add_argument("--against", metavar="DIR", help="also run another checkout, round by round")
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # --against's rounds
    args = p.parse_args()
    if args.database_url and not args.database_url.startswith("postgres"):
        raise SystemExit("--database-url: a postgresql:// URL")
    channels = [c for c in args.channels.split(",") if c]
    if not channels or set(channels) - {"email", "whatsapp"}:
        raise SystemExit("--channels: email, whatsapp or both")
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    if args.against:
        return _against(args, channels)
    rounds: dict[str, list[dict[str, float]]] = {c: [] for c in channels}
    for n in range(1, args.rounds + 1):
        for channel in channels:  # alternated, so a noisy minute falls on both
            result = one_round(
                channel, args.messages, args.latency, args.batch, args.database_url, args.profile, args.py_spy
            )
            rounds[channel].append(result)
            print(
                f"round {n} {channel}: {result['rate']:,.0f} messages/s, {result['cpu_ms']:.2f} ms CPU each, "
                f"{result['wall']:.1f} s, first to last answer {result['steady']:,.0f}/s "
                f"(seeding {result['seeding']:.0f} s)"
                + (f", the sink's CPU {result['peer_cpu_ms']:.2f} ms each" if channel == "email" else ""),
                file=sys.stderr,
            )
    met = all(statistics.median(r["rate"] for r in rs) >= TARGET for rs in rounds.values())
    if args.json:
        print(json.dumps(rounds))
        return 0 if met else 1
    engine = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"| channel ({engine}) | messages | messages/s: median (rounds) | worker CPU per message "
        "(median) | target |"
    )
    print("|---|---:|---:|---:|---|")
    for channel, results in rounds.items():
        ok = statistics.median(r["rate"] for r in results) >= TARGET
        print(
            f"| {channel} | {args.messages:,} | {_median_and_rounds(results)} | "
            f"{statistics.median(r['cpu_ms'] for r in results):.2f} ms | "
            f">= {TARGET:,.0f}/s: {'met' if ok else 'NOT met'} |"
        )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
