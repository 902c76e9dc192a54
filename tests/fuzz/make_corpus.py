#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/<target>/ from the test data: the
DolphinScheduler golden heartbeats (tests/data/dolphinscheduler/), and the good and bad inputs of
the unit tests. Run from the repository root after changing the seeds; the files are checked in.
RPC requests are serialized with protoc --encode from their text format. Files are named by the
SHA-1 of their content, as libFuzzer names what it adds, so running this twice changes nothing.
Regression inputs found by fuzzing are added by hand as regression-<what> and kept."""
import hashlib
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests/fuzz/corpus"
DATA = ROOT / "tests/data/dolphinscheduler"


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


ROLES = {"master": 0, "worker": 1, "alert-server": 2}
# Dialect indexes of heartbeat_fuzz.cc's kDialects.
DIALECTS = {"2.0": 1, "3.0": 2, "3.1": 3, "3.2.0": 4, "3.2.1": 5, "3.2.2": 6, "3.3": 7}


def heartbeat():
    for version, dialect in DIALECTS.items():
        for f in sorted((DATA / version).iterdir()):
            if f.suffix not in (".json", ".txt"):
                continue
            role = ROLES["worker" if f.stem.startswith("worker") else f.stem]
            payload = f.read_bytes().strip()
            put("heartbeat_fuzz", bytes([role]) + payload)  # kAuto
            put("heartbeat_fuzz", bytes([role + 3 * dialect]) + payload)
    bad = [
        "", " \n", '{"cpuUsage":0.5,', "{", "[1,2]", "0.1,0.2,0.3",
        "0.5,0.5,x,1,16,0.3,1729238400123,1729238650456,0,812,100,100,0",
        "0.5,0.5,1,1,16,0.3,1729238400123,1729238650456,3,812,100,100,0",
        '"NORMAL"', "null", '{"port":1} x', '{"cpuUsage":NaN}', '{"port":0x10}',
        '{"cpuUsage":"high"}', '{"port":{}}', '{"serverStatus":[0]}', '{"serverStatus":1.5}',
        '{"cpuUsage":1e999}', '{"startupTime":9223372036854775808}', '{"host":"\\ud800"}',
        '{"port":-1}', '{"reportTime":4102444800000}', '{"workerGroup":"a/b"}',
        '{"workerGroup":" etl"}', '{"host":"my host"}', '{"port":1,"port":2}',
        '{"x":' + "[" * 40 + "]" * 40 + "}", '{"threadPoolUsage":3}',
        '{"threadPoolUsage":0.25,"jvmCpuUsage":0.1}', "{'cpuUsage':0.5,port:1}",
        # Where the simdjson reader hands over to protobuf's (cluster/heartbeat_json.h).
        '{"":1,"port":5678}', '{"port":"5678","processId":8e2}', '{"cpuUsage":9007199254740993}',
        '{"serverStatus":"BUSY","serverStatus":2}', '{"cpuUsage":"NaN","threadPoolUsage":-0}',
        '{"x":1,"x":[],"port":5678}', '{"host":null,"startupTime":"1729238400123"}',
    ]
    for payload in bad:
        put("heartbeat_fuzz", bytes([1]) + payload.encode())


def node_address():
    for text in ["10.0.0.1:5678", "[::1]:5678", "[2001:db8::17]:1", "worker-1.example.com:65535",
                 "my_host:80", "host", ":5678", "host:", "host:-1", "host:0", "host:65536",
                 "host:+80", "host:080", "a b:80", "host:5678:1", "[::1]5678", "[::1:80",
                 "default", "etl", "a/b", "..", " etl", "g" * 129]:
        put("node_address_fuzz", text)


def registry_uri():
    for uri in ["zk://h1:2181,h2:2182/dolphinscheduler", "zk://127.0.0.1:2181", "memory://",
                "memory://cluster-1/app", "", "zookeeper", "http://h:2181", "zk://",
                "zk:///chroot", "zk://h", "zk://h:", "zk://:2181", "zk://h:0", "zk://h:65536",
                "zk://h:port", "zk://h:2181,", "zk://user:secret@h:2181", "zk://h:2181/a//b",
                "zk://h:2181/a/", "zk://h:2181/a/../b", "zk://h:2181?x=1", "memory://bad name",
                "memory://a/b/", "zk://[::1]:2181/", "etcd://127.0.0.1:2379/dolphinscheduler",
                "etcd://h:2379,h2:2380", "etcd://", "jdbc:postgresql://ds@db:5432/dolphinscheduler",
                "jdbc:mysql://ds@db/ds", "jdbc:mysql://ds:secret@db/ds", "jdbc:", "jdbc:postgresql://"]:
        put("registry_uri_fuzz", uri)


def group_source():
    files = ["# the spark workers\nspark = 10.0.0.2:1234, 10.0.0.1:1234\n\n"
             "flink = 10.0.0.1:1234   # shared\n",
             "spark = 10.0.0.1:1234\ndefault = 10.0.0.9:1234\n",
             "spark = 10.0.0.1:1234\nflink = 10.0.0.2\n", "spark =\n", "a/b = h:1\n",
             "spark 10.0.0.1:1234\n", "etl = [::1]:5678,\r\n"]
    for text in files:
        put("group_source_fuzz", b"\x00" + text.encode())
    rows = ["default\t10.0.0.1:1234,10.0.0.2:1234", "etl\t", "etl", "a b\th:1",
            "etl\th:1,,h:2, h:3,bad\netl\th:4", "spark\t10.0.0.1:1234,\n\t"]
    for text in rows:
        put("group_source_fuzz", b"\x01" + text.encode())


def drain_record():
    for text in ['10.0.0.1:1234\n{"reason":"kernel upgrade","drainedAtMs":"1729238660456"}',
                 '10.0.0.1:1234\n{"reason":"x"}', "10.0.0.1:1234\n{}", "10.0.0.1:1234\nnot json",
                 'bad name\n{"reason":"x"}', '[::1]:80\n{"reason":"x","other":[1,{"a":2}]}',
                 '10.0.0.1:1234\n{"reason":1}']:
        put("drain_record_fuzz", text)


RPC = {  # selector (rpc_request_fuzz.cc) -> (message, text-format requests)
    0: ("SelectWorkerRequest", ['group: "etl" strategy: LOWER_WEIGHT exclude: "10.0.0.1:1234"',
                                'exclude: "x"', 'strategy: 99', 'group: "a/b" explain: true']),
    1: ("ListWorkersRequest", ['group: "default" states: RUNNING states: FAULT', "states: 0",
                               "states: 42"]),
    2: ("GetWorkerGroupRequest", ['name: "default" view: NODE_VIEW_BASIC', 'name: ""',
                                  'name: "etl" view: 7']),
    3: ("GetMasterSlotRequest", ['address: "10.0.0.1:5678"',
                                 'address: "10.0.0.1:5678" startup_time_ms: 1 process_id: 2',
                                 'address: "10.0.0.1:5678" startup_time_ms: -1 process_id: 2',
                                 'address: "10.0.0.1:5678" process_id: 2']),
    4: ("WatchClusterRequest", ['from_version: 3 filter { roles: WORKER group: "etl" }',
                                "filter { roles: 0 }"]),
    5: ("DrainNodeRequest", ['address: "10.0.0.1:1234" reason: "kernel upgrade"',
                             'address: "10.0.0.1:1234"']),
    6: ("RegisterNodeRequest",
        ['role: WORKER address: "10.0.0.21:1234" heartbeat { cpu_usage: 0.5 worker_group: "etl" }'
         ' lease { seconds: 5 }',
         'role: MASTER address: "[::1]:5678" heartbeat { process_id: 7 server_status: BUSY }',
         'role: ALERT_SERVER address: "h:1" lease { nanos: 1 }',
         'role: WORKER address: "h:1" heartbeat { report_time_ms: -5 }']),
    7: ("HeartbeatRequest", ['address: "10.0.0.21:1234" heartbeat { memory_usage: 0.7 }']),
    8: ("GetNodeRequest", ['address: "10.0.0.21:1234"', 'address: ""']),
}


def rpc():
    for selector, (message, texts) in RPC.items():
        for text in texts:
            data = subprocess.run(
                ["protoc", f"--encode=roster.v1.{message}", "-I", str(ROOT / "proto"),
                 "roster/v1/roster.proto"], input=text.encode(), check=True,
                capture_output=True).stdout
            put("rpc_request_fuzz", bytes([selector]) + data)


if __name__ == "__main__":
    heartbeat()
    node_address()
    registry_uri()
    group_source()
    drain_record()
    rpc()
