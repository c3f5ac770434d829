"""Start N training workers on this machine, one process each, as a multi-worker cluster.

Each worker gets `TF_CONFIG` naming all N on free localhost ports, and its output is streamed
with a `[worker i]` prefix. When any worker fails, the others are stopped and the launcher exits
with that worker's code; it exits 0 when all finish. Resume an interrupted run by launching
again with `--resume`.

Usage:
  python -m train.launch_local --num_workers 2 -- train.vggsound --strategy multi_worker --demo
  python -m train.launch_local --num_workers 2 -- train.finetune --strategy multi_worker \\
      --dataset folder --data_dir DIR --out_dir runs/mine --batch_size 32

On N hosts, run the module on each with its own `TF_CONFIG` instead (README, "Scale out").
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from absl import app, flags, logging

from keras_airn import cli

NUM_WORKERS = flags.DEFINE_integer("num_workers", 2, "Worker processes to start (at least 2: one worker is a "
                                   "plain run of the module).", lower_bound=2)
GRACE_SECONDS = flags.DEFINE_float("grace_seconds", 10.0, "How long stopped workers get before SIGKILL.",
                                   lower_bound=0.0)


class Stopped(Exception):
    """The launcher got SIGTERM or SIGHUP: its workers are stopped before it exits."""

    def __init__(self, signal_number: int):
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = signal_number


def _raise_stopped(signal_number, _frame):
    raise Stopped(signal_number)


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports free on localhost now (the OS picks them)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for handle in sockets:
            handle.bind(("localhost", 0))
        return [handle.getsockname()[1] for handle in sockets]
    finally:
        for handle in sockets:
            handle.close()


def worker_environments(count: int) -> list[dict[str, str]]:
    """One environment per worker: this one plus its `TF_CONFIG`."""
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(count)]}
    return [dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}))
            for i in range(count)]


def _stream(index: int, pipe, lock: threading.Lock) -> None:
    for line in iter(pipe.readline, ""):
        with lock:
            sys.stdout.write(f"[worker {index}] {line}")
            sys.stdout.flush()
    pipe.close()


def _stop(processes: list[subprocess.Popen], grace: float) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def launch(command: list[str], num_workers: int, grace: float = 10.0) -> int:
    """Runs `python -m <command>` as `num_workers` workers; returns the exit code (first failure's).

    Args:
        command: module and its flags, e.g. ["train.vggsound", "--strategy", "multi_worker"].
        num_workers: processes to start.
        grace: seconds the others get after SIGTERM when one fails.
    """
    lock = threading.Lock()
    processes, streams = [], []
    for handled in (signal.SIGTERM, signal.SIGHUP):  # stop the workers too, so none holds the run's lock
        signal.signal(handled, _raise_stopped)
    for index, env in enumerate(worker_environments(num_workers)):
        process = subprocess.Popen([sys.executable, "-m", *command], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, bufsize=1)
        processes.append(process)
        streams.append(threading.Thread(target=_stream, args=(index, process.stdout, lock), daemon=True))
        streams[-1].start()
    code = 0
    try:
        while True:
            running = [p for p in processes if p.poll() is None]
            failed = [(i, p.returncode) for i, p in enumerate(processes) if p.returncode not in (None, 0)]
            if failed:
                # A worker killed by a signal is the likelier cause when its peers fail with it.
                index, code = min(failed, key=lambda failure: failure[1] >= 0)
                for other, other_code in failed:
                    logging.error("Worker %d exited with %d.", other, other_code)
                logging.error("Stopping the others; exit code: worker %d's.", index)
                break
            if not running:
                break
            time.sleep(0.05)
    except KeyboardInterrupt:
        code = 130
    except Stopped as stopped:
        logging.error("Got %s: stopping the workers.", stopped)
        code = 128 + stopped.signal_number
    finally:
        _stop(processes, grace)
        for thread in streams:
            thread.join(timeout=5)
    return 128 - code if code < 0 else code  # killed by signal N: 128 + N, as a shell reports it


def uses_multi_worker(command: list[str]) -> bool:
    """Whether `command` passes `--strategy multi_worker` (either flag form)."""
    joined = [f"{a}={b}" for a, b in zip(command, command[1:])] + command
    return any(argument.lstrip("-") == "strategy=multi_worker" for argument in joined)


def main(argv):
    command = argv[1:]
    if not command:
        raise app.UsageError("Name the module to run after --, e.g. -- train.vggsound --strategy multi_worker ...")
    if not uses_multi_worker(command):
        raise app.UsageError("The workers' command needs --strategy multi_worker: without it each worker is a "
                             "separate run of the same folder (and the second is refused as 'in use').")
    sys.exit(launch(command, NUM_WORKERS.value, GRACE_SECONDS.value))


if __name__ == "__main__":
    cli.run(main, positional="the module to run after --, with its flags")
