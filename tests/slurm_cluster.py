"""A single-node SLURM cluster on localhost for the scheduler test.

Installs Debian's slurm-wlm and munge when missing (root with apt-get only), writes
/etc/slurm/slurm.conf (jobs' srun reads the standard location) unless a config not written
here is already there, starts munged, slurmctld and slurmd without systemd, and stops exactly
the daemons it started, by pid, then removes the config again: a config naming a controller
that no longer runs makes every ``scontrol`` call (the SLURM executor plugin runs one each time
Snakemake starts) wait ~10 s for it. Daemons an interrupted earlier test run left behind are
found through the config it left and stopped first.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

MARKER = "# written by phenoflow's test suite"
CONF = Path("/etc/slurm/slurm.conf")


class Unavailable(RuntimeError):
    """SLURM cannot be set up here; the message says why."""


def _run(*cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def ensure_installed() -> None:
    """Install slurm-wlm and munge from Debian if they are missing."""
    if shutil.which("slurmctld") and shutil.which("munged"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Unavailable("slurm-wlm is not installed and cannot be installed (needs root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "slurm-wlm", "munge"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
        if proc.returncode != 0:
            raise Unavailable(f"{' '.join(cmd)} failed: {proc.stderr[-500:]}")


def _config(state: Path) -> str:
    host = socket.gethostname().split(".")[0]
    mem_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20 - 2000
    return f"""{MARKER}
ClusterName=phenoflow-test
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={state}/ctld
SlurmdSpoolDir={state}/spool
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
NodeName={host} CPUs={os.cpu_count()} RealMemory={mem_mb} State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


class LocalSlurm:
    """Start with :meth:`start`, stop with :meth:`stop`; ``state`` holds logs and pid files."""

    def __init__(self, state: Path):
        self.state = state
        self.pids: list[int] = []

    def start(self) -> None:
        ensure_installed()
        if CONF.exists():
            if MARKER not in CONF.read_text():
                raise Unavailable(f"{CONF} belongs to a real SLURM installation; not touching it")
            _stop_leftovers(CONF.read_text())
        for sub in ("ctld", "spool"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        CONF.parent.mkdir(parents=True, exist_ok=True)
        CONF.write_text(_config(self.state))
        if _run("pgrep", "-x", "munged").returncode != 0:
            run_dir = Path("/run/munge")
            run_dir.mkdir(parents=True, exist_ok=True)
            shutil.chown(run_dir, "munge", "munge")
            pidfile = self.state / "munged.pid"
            proc = _run("munged", "--force", f"--pid-file={pidfile}")
            if proc.returncode != 0:
                raise Unavailable(f"munged did not start: {proc.stderr[-300:]}")
            self.pids.append(int(pidfile.read_text()))
        for daemon in ("slurmctld", "slurmd"):
            proc = _run(daemon)
            if proc.returncode != 0:
                raise Unavailable(f"{daemon} did not start: {proc.stderr[-300:]}")
            self.pids.append(int(self._wait_for(self.state / f"{daemon}.pid").read_text()))
        deadline = time.monotonic() + 60
        while "idle" not in _run("sinfo", "-h", "-o", "%t").stdout:
            if time.monotonic() > deadline:
                raise Unavailable(f"the node never became idle; see {self.state}/slurmctld.log")
            time.sleep(0.5)

    def _wait_for(self, path: Path) -> Path:
        deadline = time.monotonic() + 30
        while not path.exists():
            if time.monotonic() > deadline:
                raise Unavailable(f"{path} did not appear")
            time.sleep(0.2)
        return path

    def completed_job_ids(self) -> list[int]:
        """Ids of the jobs slurmctld ran to completion, from its log."""
        log = (self.state / "slurmctld.log").read_text()
        return [
            int(line.split("JobId=")[1].split()[0])
            for line in log.splitlines()
            if "_job_complete" in line and " done" in line
        ]

    def stop(self) -> None:
        _terminate(reversed(self.pids))
        self.pids.clear()
        if CONF.exists() and f"StateSaveLocation={self.state}/ctld" in CONF.read_text():
            CONF.unlink()


def _terminate(pids) -> None:
    """SIGTERM each pid, then wait (up to 30 s) until they are gone, so their ports are free."""
    pids = list(pids)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)


def _stop_leftovers(conf: str) -> None:
    """Stop slurmctld/slurmd of an earlier test run that never stopped them, by the pid files its
    config names (only pids that still are those daemons)."""
    settings = dict(line.split("=", 1) for line in conf.splitlines() if "=" in line and not line.startswith("#"))
    pids = []
    for key, daemon in (("SlurmdPidFile", "slurmd"), ("SlurmctldPidFile", "slurmctld")):
        try:
            pid = int(Path(settings[key]).read_text())
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except (KeyError, OSError, ValueError):
            continue
        if comm == daemon:
            pids.append(pid)
    _terminate(pids)
