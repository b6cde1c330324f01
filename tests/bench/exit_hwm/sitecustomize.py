"""Put on PYTHONPATH by the benchmark (with ZKIZ_BENCH_HWM_DIR set): every Python process
of a measured run writes its peak RSS (VmHWM, kB) to ``$ZKIZ_BENCH_HWM_DIR/PID`` as it
exits, whether through ``sys.exit`` (atexit) or ``os._exit`` (how forked worker
processes of ``multiprocessing`` end). Processes that exec another program or die of a
signal write nothing; the benchmark's sampler covers those."""

import atexit
import os

_DIRECTORY = os.environ.get("ZKIZ_BENCH_HWM_DIR")

if _DIRECTORY:
    _real_exit = os._exit

    def _report() -> None:
        try:
            with open("/proc/self/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        with open(os.path.join(_DIRECTORY, str(os.getpid())), "w") as out:
                            out.write(line.split()[1])
                        break
        except OSError:
            pass

    def _exit(code: int) -> None:
        _report()
        _real_exit(code)

    atexit.register(_report)
    os._exit = _exit
