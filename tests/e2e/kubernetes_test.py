#!/usr/bin/python3
"""deploy/kubernetes/master-with-rosterd.yaml, checked without a cluster (ctest: kubernetes_test).

The manifest parses (PyYAML), its objects fit together (selectors, the headless Service, ports
the probes name, the ConfigMap mounted where the container reads its flags), rosterd's
container is locked down, its probes are wired to what rosterd serves (the gRPC health
service on the --listen port, the metrics port), and the ConfigMap's flags are accepted by
the rosterd built here: each is one of its flags, and it starts with them (on the in-memory registry, loopback port 0) and
exits 0 on SIGTERM.

  kubernetes_test.py MANIFEST ROSTERD
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import yaml

MANIFEST, ROSTERD = sys.argv[1], sys.argv[2]


def load():
    with open(MANIFEST) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    return docs, by_kind


def flag_values(flags_text):
    """--name=value lines of a gflags flagfile, as a dict (--name alone: "true")."""
    values = {}
    for line in flags_text.splitlines():
        line = line.strip()
        if not line.startswith("--"):
            continue
        name, _, value = line[2:].partition("=")
        values[name] = value if _ else "true"
    return values


def read(path):
    with open(path) as f:
        return f.read()


def port_of(address):
    return int(address.rsplit(":", 1)[1])


class KubernetesManifestTest(unittest.TestCase):
    def setUp(self):
        self.docs, self.by_kind = load()
        self.statefulset = self.by_kind["StatefulSet"][0]
        self.pod = self.statefulset["spec"]["template"]
        containers = {c["name"]: c for c in self.pod["spec"]["containers"]}
        self.rosterd = containers["rosterd"]
        self.configmap = self.by_kind["ConfigMap"][0]
        self.flags = flag_values(self.configmap["data"]["rosterd.flags"])

    def container_port(self, container, port):
        """A probe's port (a number or a name) as the number the container declares."""
        for declared in container.get("ports", []):
            if port in (declared["containerPort"], declared.get("name")):
                return declared["containerPort"]
        self.fail(f"port {port!r} is not declared by container {container['name']}")

    def test_every_object_is_well_formed(self):
        self.assertEqual(sorted(self.by_kind),
                         ["ConfigMap", "NetworkPolicy", "Service", "StatefulSet"])
        for doc in self.docs:
            self.assertIn("apiVersion", doc)
            self.assertTrue(re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?",
                                         doc["metadata"]["name"]), doc["metadata"]["name"])

    def test_objects_select_each_other(self):
        labels = self.pod["metadata"]["labels"]
        selector = self.statefulset["spec"]["selector"]["matchLabels"]
        self.assertLessEqual(selector.items(), labels.items())
        service = self.by_kind["Service"][0]
        self.assertEqual(self.statefulset["spec"]["serviceName"], service["metadata"]["name"])
        self.assertEqual(service["spec"]["clusterIP"], "None")
        self.assertLessEqual(service["spec"]["selector"].items(), labels.items())
        policy = self.by_kind["NetworkPolicy"][0]
        self.assertLessEqual(policy["spec"]["podSelector"]["matchLabels"].items(),
                             labels.items())
        # Every port the Service targets is declared by a container of the pod.
        named = {p.get("name") for c in self.pod["spec"]["containers"] for p in c["ports"]}
        for port in service["spec"]["ports"]:
            self.assertIn(port["targetPort"], named)

    def test_flags_come_from_the_configmap(self):
        mount = [m for m in self.rosterd["volumeMounts"] if m["name"] == "rosterd-flags"][0]
        volume = [v for v in self.pod["spec"]["volumes"] if v["name"] == "rosterd-flags"][0]
        self.assertEqual(volume["configMap"]["name"], self.configmap["metadata"]["name"])
        self.assertIn(f"--flagfile={mount['mountPath']}/rosterd.flags", self.rosterd["args"])

    def test_probes_are_wired_to_rosterd(self):
        grpc_port = port_of(self.flags["listen"])
        metrics_port = port_of(self.flags["metrics_listen"])
        # Readiness: the standard gRPC health service, on the port rosterd listens on.
        ready = self.rosterd["readinessProbe"]["grpc"]
        self.assertEqual(self.container_port(self.rosterd, ready["port"]), grpc_port)
        self.assertEqual(ready.get("service", ""), "")
        # Liveness and start-up: the gRPC port accepts connections (not the health verdict,
        # which follows ZooKeeper).
        for probe in ("livenessProbe", "startupProbe"):
            port = self.rosterd[probe]["tcpSocket"]["port"]
            self.assertEqual(self.container_port(self.rosterd, port), grpc_port, probe)
        # The kubelet reaches the pod's address, and its gRPC probe cannot do TLS.
        self.assertTrue(self.flags["listen"].startswith("0.0.0.0:"))
        self.assertEqual(self.flags.get("allow_plaintext_listen"), "true")
        self.assertEqual(self.container_port(self.rosterd, "rosterd-metrics"), metrics_port)
        annotations = self.pod["metadata"]["annotations"]
        self.assertEqual(int(annotations["prometheus.io/port"]), metrics_port)

    def test_rosterd_is_locked_down(self):
        context = self.rosterd["securityContext"]
        self.assertTrue(context["runAsNonRoot"])
        self.assertNotEqual(context["runAsUser"], 0)
        self.assertTrue(context["readOnlyRootFilesystem"])
        self.assertFalse(context["allowPrivilegeEscalation"])
        self.assertEqual(context["capabilities"]["drop"], ["ALL"])
        self.assertEqual(self.pod["spec"]["securityContext"]["seccompProfile"]["type"],
                         "RuntimeDefault")
        resources = self.rosterd["resources"]
        self.assertIn("memory", resources["requests"])
        self.assertIn("memory", resources["limits"])

    def test_shutdown_fits_the_grace_period(self):
        grace_s = self.pod["spec"]["terminationGracePeriodSeconds"]
        self.assertLess(int(self.flags["shutdown_grace_ms"]), grace_s * 1000)

    def test_every_flag_is_a_rosterd_flag(self):
        # gflags skips names it does not know in a --flagfile (they may be another program's),
        # so a misspelt flag would be silently ignored: check the names against rosterd's own.
        helpxml = subprocess.run([ROSTERD, "--helpxml"], capture_output=True, text=True,
                                 timeout=30).stdout
        known = set(re.findall(r"<name>([^<]+)</name>", helpxml))
        self.assertIn("registry", known)
        self.assertEqual(sorted(set(self.flags) - known), [])

    def test_rosterd_accepts_the_flags(self):
        with tempfile.TemporaryDirectory() as work:
            flagfile = os.path.join(work, "rosterd.flags")
            with open(flagfile, "w") as f:
                f.write(self.configmap["data"]["rosterd.flags"])
            port_file = os.path.join(work, "port")
            log_path = os.path.join(work, "rosterd.log")
            with open(log_path, "w") as log:
                # Later flags win: only where it listens and what it reads are changed.
                daemon = subprocess.Popen(
                    [ROSTERD, f"--flagfile={flagfile}", "--registry=memory://",
                     "--listen=127.0.0.1:0", "--metrics_listen=", f"--port_file={port_file}"],
                    stdout=log, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + 20
                while not (os.path.exists(port_file) and os.path.getsize(port_file) > 0):
                    if daemon.poll() is not None:
                        self.fail(f"rosterd exited {daemon.returncode}: {read(log_path)}")
                    if time.monotonic() > deadline:
                        self.fail(f"rosterd wrote no port file in 20 s: {read(log_path)}")
                    time.sleep(0.1)  # polling the condition above, bounded by the deadline
                daemon.send_signal(signal.SIGTERM)
                self.assertEqual(daemon.wait(timeout=30), 0, read(log_path))
            finally:
                if daemon.poll() is None:
                    daemon.kill()
                    daemon.wait()


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
