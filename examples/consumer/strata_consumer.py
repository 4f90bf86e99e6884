#!/usr/bin/python3
"""Reads the Strata event stream from Kafka and prints it as JSON lines.

Every record of the topic (default strata.events) becomes one line:

  {"partition": 2, "offset": 0, "timestamp_ms": 1764072127000,
   "key": "object:table:sales.orders",
   "headers": {"strata-event-type": "checked_out", "strata-schema": "strata.v1.Event"},
   "type": "checked_out", "accepted": true, "verdict": "accepted", "reason": "",
   "event": {...the strata.v1.Event, as protobuf's JSON mapping with proto field names...}}

"accepted" is decided here, by the accept rule every Strata service applies
(lib/decide/decide.cc, docs/events.md): only accepted events change state;
the others lost a race (or are audit records with seq 0) and must be ignored
by anyone building state from the stream. To decide, the consumer must see
every partition from its first record, so it always reads from the beginning;
--from-end only hides the records that were already there when it started.

Needs only Debian's python3-kafka (kafka-python 2.0.2) and python3-protobuf,
plus modules generated from proto/strata/v1/events.proto by protoc (see
README.md). Partitions are assigned manually: no consumer group, no offset
commits, so it needs no group coordinator and never disturbs anyone.

Exit status: 0 done, 2 usage or connection problem, 3 with --strict when a
record was not a decodable Strata event.
"""

import argparse
import atexit
import base64
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------------------
# Generated protobuf modules

def load_events_pb2(proto_path, proto_dir):
    """Imports strata.v1.events_pb2 from proto_path, or generates it first.

    proto_path: a directory holding strata/v1/events_pb2.py (protoc --python_out).
    When it is None, gen/ next to this script is used if it exists; otherwise
    protoc (if installed) generates the modules from proto_dir into a
    temporary directory.
    """
    if proto_path is None:
        default = os.path.join(HERE, "gen")
        if os.path.exists(os.path.join(default, "strata", "v1", "events_pb2.py")):
            proto_path = default
        else:
            proto_path = generate(proto_dir)
    elif not os.path.exists(os.path.join(proto_path, "strata", "v1", "events_pb2.py")):
        sys.exit("error: %s has no strata/v1/events_pb2.py; generate it with\n"
                 "  protoc -I proto --python_out=%s proto/strata/v1/events.proto"
                 % (proto_path, proto_path))
    sys.path.insert(0, os.path.abspath(proto_path))
    return importlib.import_module("strata.v1.events_pb2")


def generate(proto_dir):
    protoc = shutil.which("protoc")
    events_proto = os.path.join(proto_dir, "strata", "v1", "events.proto")
    if not protoc:
        sys.exit("error: no generated modules (%s/gen) and no protoc to generate them; "
                 "install protobuf-compiler or pass --proto-path" % HERE)
    if not os.path.exists(events_proto):
        sys.exit("error: %s not found; pass --proto-dir (the repository's proto/ directory)"
                 % events_proto)
    out = tempfile.mkdtemp(prefix="strata-pb2-")
    atexit.register(shutil.rmtree, out, True)
    # events.proto imports only google/protobuf/timestamp.proto, whose module
    # ships with the protobuf runtime: generating events.proto alone suffices.
    cmd = [protoc, "-I", proto_dir, "--python_out=" + out, events_proto]
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True)
    if result.returncode != 0:
        sys.exit("error: %s failed:\n%s" % (" ".join(cmd), result.stderr))
    return out


# ---------------------------------------------------------------------------
# The accept rule: a transcription of lib/decide/decide.cc (Decide, Advance).

ACCEPTED = "accepted"
INFORMATIONAL = "informational"
STALE_SEQ = "stale seq"
RULE_VIOLATED = "rule violated"
MALFORMED = "malformed"
NOT_AN_EVENT = "not an event"  # skipped before deciding, as Strata's projections do


class Facts(object):
    """What the log has established about one aggregate (AggregateFacts)."""
    __slots__ = ("last_seq", "holder", "latest_version", "running_deployment", "tracked")

    def __init__(self):
        self.last_seq = 0
        self.holder = ""              # object aggregates: lock holder ("" nobody)
        self.latest_version = 0       # object aggregates: latest checked-in version
        self.running_deployment = ""  # env aggregates: running deployment id
        self.tracked = False          # data aggregates: the table's rows are tracked


def _holder_mismatch(f, actor):
    if not f.holder:
        return "not checked out"
    return "checked out by %s, not %s" % (f.holder, actor)


def _decide_object(e, t, f):
    actor = e.actor.user
    if t == "checked_out":
        if f.holder:
            return RULE_VIOLATED, "already checked out by %s" % f.holder
        return ACCEPTED, ""
    if t == "checked_in":
        if f.holder != actor:
            return RULE_VIOLATED, _holder_mismatch(f, actor)
        # the first version under a new name continues the old name's numbers
        if e.checked_in.renamed_from and e.checked_in.version > f.latest_version:
            return ACCEPTED, ""
        if e.checked_in.version != f.latest_version + 1:
            return RULE_VIOLATED, "version %d does not follow latest version %d" % (
                e.checked_in.version, f.latest_version)
        return ACCEPTED, ""
    if t == "check_out_undone":
        if f.holder != actor:
            return RULE_VIOLATED, _holder_mismatch(f, actor)
        return ACCEPTED, ""
    if t == "lock_force_released":
        if not f.holder:
            return RULE_VIOLATED, "not checked out"
        if e.lock_force_released.previous_holder != f.holder:
            return RULE_VIOLATED, "held by %s, not %s" % (
                f.holder, e.lock_force_released.previous_holder)
        return ACCEPTED, ""
    return MALFORMED, "payload is not an object event"


def _decide_creation(e, f, aggregate, what, exists):
    """The event that creates a named aggregate: its name must be the
    aggregate's, and it must come first (seq 1)."""
    if aggregate != e.aggregate:
        return MALFORMED, "%s name does not match its aggregate" % what
    if f.last_seq != 0:
        return RULE_VIOLATED, exists
    return ACCEPTED, ""


def _decide_baseline(e, t, f):
    if t != "baseline_created":
        return MALFORMED, "payload is not a baseline event"
    # baselines are immutable: only seq 1 creates one
    return _decide_creation(e, f, "baseline:" + e.baseline_created.name, "baseline",
                            "the baseline already exists")


def _decide_environment(e, t, f):
    if t == "environment_registered":
        return _decide_creation(e, f, "env:" + e.environment_registered.name, "environment",
                                "the environment is already registered")
    if f.last_seq == 0:
        return RULE_VIOLATED, "the environment is not registered"
    if t in ("environment_imported", "deployment_started"):
        if f.running_deployment:
            return RULE_VIOLATED, "deployment %s is running" % f.running_deployment
        if t == "deployment_started" and not e.deployment_started.deployment_id:
            return MALFORMED, "deployment without an id"
        return ACCEPTED, ""
    if t == "deployment_finished":
        if not f.running_deployment:
            return RULE_VIOLATED, "no deployment is running"
        if f.running_deployment != e.deployment_finished.deployment_id:
            return RULE_VIOLATED, "deployment %s is running, not %s" % (
                f.running_deployment, e.deployment_finished.deployment_id)
        return ACCEPTED, ""
    return MALFORMED, "payload is not an environment event"


def _decide_release(e, t, f):
    if t == "release_created":
        return _decide_creation(e, f, "release:" + e.release_created.name, "release",
                                "the release already exists")
    if t != "release_approved":
        return MALFORMED, "payload is not a release event"
    if f.last_seq == 0:
        return RULE_VIOLATED, "no such release"
    return ACCEPTED, ""


def _decide_data(e, t, f):
    if t == "data_tracked":
        if f.tracked:
            return RULE_VIOLATED, "the table is already tracked"
        if not e.data_tracked.key:
            return MALFORMED, "tracking without key columns"
        return ACCEPTED, ""
    if t == "data_untracked":
        if not f.tracked:
            return RULE_VIOLATED, "the table is not tracked"
        return ACCEPTED, ""
    if t == "data_version_stored":
        if not f.tracked:
            return RULE_VIOLATED, "the table is not tracked"
        if e.data_version_stored.version != f.latest_version + 1:
            return RULE_VIOLATED, "data version %d does not follow latest data version %d" % (
                e.data_version_stored.version, f.latest_version)
        return ACCEPTED, ""
    return MALFORMED, "payload is not a data event"


def _decide_policy(e, t, f):
    if t == "policy_set":
        if e.policy_set.version != f.latest_version + 1:
            return RULE_VIOLATED, "policy version %d does not follow latest version %d" % (
                e.policy_set.version, f.latest_version)
        return ACCEPTED, ""
    if t == "policy_waived":
        if not e.policy_waived.object or not e.policy_waived.rule:
            return MALFORMED, "a waiver names an object and a rule"
        return ACCEPTED, ""
    return MALFORMED, "payload is not a policy event"


def decide(e, f):
    """Returns (verdict, reason) for event e given its aggregate's facts f."""
    t = e.WhichOneof("payload")
    if t is None:
        return MALFORMED, "event has no payload"
    if e.seq == 0:
        if t == "command_refused":
            return INFORMATIONAL, ""
        return MALFORMED, "seq 0 is only for informational events"
    if t == "command_refused":
        return MALFORMED, "command_refused must have seq 0"
    if e.seq != f.last_seq + 1:
        return STALE_SEQ, "seq %d but the aggregate is at seq %d" % (e.seq, f.last_seq)
    a = e.aggregate
    if a.startswith("object:"):
        return _decide_object(e, t, f)
    if a.startswith("baseline:"):
        return _decide_baseline(e, t, f)
    if a.startswith("env:"):
        return _decide_environment(e, t, f)
    if a.startswith("release:"):
        return _decide_release(e, t, f)
    if a.startswith("data:"):
        return _decide_data(e, t, f)
    if a.startswith("policy:"):
        return _decide_policy(e, t, f)
    return MALFORMED, "unknown aggregate type: %s" % a


def advance(e, f):
    """Advances f by an event decide() accepted."""
    f.last_seq = e.seq
    t = e.WhichOneof("payload")
    if t == "checked_out":
        f.holder = e.actor.user
    elif t == "checked_in":
        f.latest_version = e.checked_in.version
        if not e.checked_in.keep_checked_out:
            f.holder = ""
    elif t in ("check_out_undone", "lock_force_released"):
        f.holder = ""
    elif t == "deployment_started":
        f.running_deployment = e.deployment_started.deployment_id
    elif t == "deployment_finished":
        f.running_deployment = ""
    elif t == "data_tracked":
        f.tracked = True
    elif t == "data_untracked":
        f.tracked = False
    elif t == "data_version_stored":
        f.latest_version = e.data_version_stored.version
    elif t == "policy_set":
        f.latest_version = e.policy_set.version


# ---------------------------------------------------------------------------
# Records to JSON lines

FRAGMENT = "strata-fragment"    # on each piece of a large record: "SET INDEX/COUNT"
FRAGMENTS = "strata-fragments"  # on the large record itself: "SET BYTES OFFSET,OFFSET,..."


class Decoder(object):
    def __init__(self, events_pb2, json_format):
        self.pb2 = events_pb2
        self.json_format = json_format
        self.facts = {}  # aggregate -> Facts
        self.fragments = {}  # (partition, offset) -> (header, value)

    # Large records (docs/events.md): an event larger than one Kafka record
    # may be (about 1 MB by default) is written as fragments, then a record
    # with the event's headers plus strata-fragments and an empty value. The
    # fragments come first in the same partition: keep them until the record
    # that names them, which is decoded with their values joined in order.

    def keep_fragment(self, r, header):
        self.fragments[(r.partition, r.offset)] = (header, r.value or b"")

    def reassemble(self, r, header):
        """The record with its value joined from its fragments (unchanged if one is missing)."""
        try:
            set_id, size, offsets = header.split(" ")
            offsets = [int(o) for o in offsets.split(",")]
            size = int(size)
        except ValueError:
            return r
        pieces = []
        for i, o in enumerate(offsets):
            got = self.fragments.pop((r.partition, o), None)
            if got is None or got[0] != "%s %d/%d" % (set_id, i, len(offsets)):
                return r
            pieces.append(got[1])
        value = b"".join(pieces)
        return r._replace(value=value) if len(value) == size else r

    def record(self, r):
        """Decides one Kafka record (in partition order); returns its JSON dict."""
        key = r.key
        out = {
            "partition": r.partition,
            "offset": r.offset,
            "timestamp_ms": r.timestamp,
            "key": None if key is None else key.decode("utf-8", "backslashreplace"),
            "headers": {k: (v or b"").decode("utf-8", "backslashreplace")
                        for k, v in (r.headers or [])},
        }
        event = self.pb2.Event()
        try:
            event.ParseFromString(r.value or b"")
        except Exception as err:  # google.protobuf.message.DecodeError
            return self._not_an_event(out, r, "not a strata.v1.Event: %s" % err)
        # Strata's projections skip such records the same way
        # (lib/projection/projection.cc): they never reach the accept rule.
        if not event.aggregate:
            return self._not_an_event(out, r, "the event has no aggregate")
        if key is None or event.aggregate.encode("utf-8") != key:
            return self._not_an_event(out, r, "the event's aggregate is not the record key")
        facts = self.facts.get(event.aggregate)
        if facts is None:
            facts = self.facts[event.aggregate] = Facts()
        verdict, reason = decide(event, facts)
        if verdict == ACCEPTED:
            advance(event, facts)
        out["type"] = event.WhichOneof("payload")
        out["accepted"] = verdict == ACCEPTED
        out["verdict"] = verdict
        out["reason"] = reason
        # Field names as in the .proto; fields at their default value (seq 0,
        # false, "", []) are included so that every line has the same shape.
        out["event"] = self.json_format.MessageToDict(
            event, preserving_proto_field_name=True, including_default_value_fields=True)
        return out

    @staticmethod
    def _not_an_event(out, r, why):
        out["type"] = None
        out["accepted"] = False
        out["verdict"] = NOT_AN_EVENT
        out["reason"] = why
        out["value_base64"] = base64.b64encode(r.value or b"").decode("ascii")
        return out


# ---------------------------------------------------------------------------
# Kafka

def parse_api_version(text):
    if text in (None, "", "auto"):
        return None
    try:
        return tuple(int(x) for x in text.split("."))
    except ValueError:
        raise argparse.ArgumentTypeError("expected auto or a version like 2.5.0")


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Print the Strata event stream as JSON lines, with the accept rule applied.")
    p.add_argument("--bootstrap", default=os.environ.get("STRATA_KAFKA"),
                   help="Kafka bootstrap servers host:port[,host:port...] (env STRATA_KAFKA)")
    p.add_argument("--topic", default="strata.events", help="event topic (default %(default)s)")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--from-beginning", dest="from_end", action="store_false", default=False,
                       help="print every record from the start of the log (default)")
    start.add_argument("--from-end", dest="from_end", action="store_true",
                       help="print only records appended after start-up (earlier records are "
                            "still read, silently, because the accept rule needs them)")
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--until-idle", type=float, metavar="SECONDS",
                      help="exit once no record arrived for SECONDS (for tests)")
    stop.add_argument("--follow", action="store_true",
                      help="keep waiting for new records until interrupted")
    p.add_argument("--proto-path", metavar="DIR",
                   help="directory with the generated strata/v1/events_pb2.py (default: gen/ next "
                        "to this script, else generated with protoc into a temporary directory)")
    p.add_argument("--proto-dir", metavar="DIR",
                   default=os.path.normpath(os.path.join(HERE, "..", "..", "proto")),
                   help="the .proto sources protoc generates from (default %(default)s)")
    # kafka-python probes the broker's version when api_version is None. That
    # works against real Kafka and against strata-devbroker (librdkafka's mock
    # cluster; it is detected as 2.3.0). Give a version, e.g. 2.5.0, to skip
    # probing, e.g. for brokers or proxies that answer the probe badly.
    p.add_argument("--api-version", type=parse_api_version, default=None, metavar="X.Y.Z",
                   help="Kafka protocol version to assume, or auto to probe (default auto)")
    p.add_argument("--property", action="append", default=[], metavar="K=V",
                   help="extra KafkaConsumer setting (e.g. security_protocol=SSL, "
                        "ssl_cafile=/etc/ca.pem), repeatable")
    p.add_argument("--strict", action="store_true",
                   help="exit with status 3 if any record is not a decodable Strata event")
    args = p.parse_args(argv)
    if not args.bootstrap:
        p.error("--bootstrap is required (or set STRATA_KAFKA)")

    events_pb2 = load_events_pb2(args.proto_path, args.proto_dir)
    from google.protobuf import json_format
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    extra = {}
    for kv in args.property:
        k, sep, v = kv.partition("=")
        if not sep or not k:
            p.error("--property %r is not K=V" % kv)
        extra[k] = int(v) if v.isdigit() else v

    try:
        consumer = KafkaConsumer(
            bootstrap_servers=args.bootstrap.split(","),
            api_version=args.api_version,
            group_id=None,              # manual assignment: no group, no coordinator
            enable_auto_commit=False,   # and never any offset commit
            auto_offset_reset="earliest",
            client_id="strata-consumer",
            **extra)
    except KafkaError as err:
        sys.stderr.write("error: cannot reach Kafka at %s: %s\n" % (args.bootstrap, err))
        return 2

    partitions = consumer.partitions_for_topic(args.topic)
    deadline = time.time() + 30
    while not partitions and (args.follow or args.until_idle) and time.time() < deadline:
        time.sleep(0.5)  # the topic is created by the first Strata server
        partitions = consumer.partitions_for_topic(args.topic)
    if not partitions:
        sys.stderr.write("error: topic %s does not exist at %s\n" % (args.topic, args.bootstrap))
        consumer.close()
        return 2
    tps = [TopicPartition(args.topic, n) for n in sorted(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    for tp, first in sorted(consumer.beginning_offsets(tps).items()):
        if first > 0:
            sys.stderr.write(
                "warning: partition %d starts at offset %d: earlier events were deleted "
                "(the topic must have infinite retention); accepted flags may be wrong\n"
                % (tp.partition, first))
    end = {tp.partition: off for tp, off in consumer.end_offsets(tps).items()}
    # Without --follow / --until-idle: stop at the end offsets seen at start.
    remaining = {n for n, off in end.items() if off > 0}
    at_end = not (args.follow or args.until_idle) and not remaining

    def stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)  # kill ends --follow cleanly, like Ctrl-C

    decoder = Decoder(events_pb2, json_format)
    counts = {"records": 0, "accepted": 0, "not_events": 0}
    last_record = time.time()
    out = sys.stdout
    try:
        while not at_end:
            batch = consumer.poll(timeout_ms=200, max_records=1000)
            if not batch:
                if args.until_idle and time.time() - last_record >= args.until_idle:
                    break
                continue
            last_record = time.time()
            for tp in sorted(batch, key=lambda t: t.partition):
                for r in batch[tp]:
                    if r.offset + 1 >= end.get(r.partition, 0):
                        remaining.discard(r.partition)
                    headers = {k: (v or b"").decode("utf-8", "replace") for k, v in (r.headers or [])}
                    if FRAGMENT in headers:
                        decoder.keep_fragment(r, headers[FRAGMENT])
                        continue
                    if FRAGMENTS in headers:
                        r = decoder.reassemble(r, headers[FRAGMENTS])
                    line = decoder.record(r)
                    counts["records"] += 1
                    counts["accepted"] += line["accepted"]
                    counts["not_events"] += line["verdict"] == NOT_AN_EVENT
                    if not args.from_end or r.offset >= end.get(r.partition, 0):
                        out.write(json.dumps(line, sort_keys=False) + "\n")
            out.flush()
            if not (args.follow or args.until_idle) and not remaining:
                break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close(autocommit=False)
    sys.stderr.write("%d records, %d accepted, %d not Strata events\n"
                     % (counts["records"], counts["accepted"], counts["not_events"]))
    if args.strict and counts["not_events"]:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
