#!/usr/bin/env python3
"""The part of scripts/esctest that runs inside a multiplexer's pane: it loads esctest2, reads
the screen through the multiplexer's capture instead of DECRQCRA, runs the tests one by one and
writes one JSON line per test to $ESCTEST_RESULTS. Everything it needs comes from the
environment the outer part sets (see run_suite there); it is not meant to be run by hand.
"""
import json, os, re, signal, subprocess, sys, time

COLS, ROWS = 80, 24



class TestTimeout(BaseException):
    """Raised by SIGALRM. BaseException, so esctest2's `except Exception` does not swallow it."""


class CaptureHang(BaseException):
    """The multiplexer did not answer a capture: its server is stuck."""


def inner():
    import select, traceback, types, unicodedata

    pkg = os.path.join(os.environ["ESCTEST2_DIR"], "esctest")
    results = open(os.environ["ESCTEST_RESULTS"], "a", buffering=1)

    def emit(**event):
        results.write(json.dumps(event) + "\n")
        results.flush()

    try:
        sys.path.insert(0, pkg)
        sys.argv = ["esctest.py"] + json.loads(os.environ["ESCTEST_ARGS"])
        capture_cmd = json.loads(os.environ["ESCTEST_CAPTURE"])
        size_fix = os.environ.get("ESCTEST_SIZE_FIX") == "1"
        test_timeout = int(os.environ.get("ESCTEST_TEST_TIMEOUT", "30"))
        hard_reset = os.environ.get("ESCTEST_RIS") == "1"
        import esccmd, escio, esctypes, escutil  # noqa: F401  (esccmd first, as esctest.py does: circular imports)

        # --- screen reads through capture -------------------------------------------------
        state = {"grid": None, "decom": False, "lrmm": False, "top": 1, "left": 1}
        orig_write = escio.Write

        def soft_reset():
            state.update(decom=False, top=1, left=1)

        def track(s):
            # What xterm's DECRQCRA needs: origin mode and the top/left margins.
            for m in re.finditer(r"(?:\x1b\[|\x9b)([0-?]*)([ -/]*)([@-~])|\x1bc", s):
                if m.group(0) == "\x1bc":
                    state.update(decom=False, lrmm=False, top=1, left=1)
                    continue
                params, inter, final = m.groups()
                if params.startswith("?") and not inter and final in "hl":
                    for p in params[1:].split(";"):
                        if p == "6":
                            state["decom"] = final == "h"
                        elif p == "69":
                            state["lrmm"] = final == "h"
                            state["left"] = 1
                elif params.startswith("?") or params.startswith(">"):
                    continue
                elif not inter and final in "rs":
                    nums = [int(x) if x.isdigit() else 0 for x in params.split(";")] if params else []
                    lo = nums[0] if len(nums) > 0 and nums[0] else 1
                    hi = nums[1] if len(nums) > 1 and nums[1] else (ROWS if final == "r" else COLS)
                    if final == "r" and lo < hi:
                        state["top"] = lo
                    elif final == "s" and state["lrmm"] and lo < hi:
                        state["left"] = lo
                elif inter in ('!', '"') and final == "p":  # DECSTR, DECSCL
                    soft_reset()

        def write(s, sideChannelOk=True):
            state["grid"] = None
            track(s)
            orig_write(s, sideChannelOk)

        escio.Write = write

        def cells(line):
            out = []
            for ch in line:
                out.append(ch)
                if unicodedata.east_asian_width(ch) in ("W", "F"):
                    out.append("\0")
            return out

        def screen():
            if state["grid"] is None:
                escutil.GetCursorPosition()  # answered only once everything before is parsed
                pane = os.environ.get("SBX_PANE_ID") or os.environ.get("TMUX_PANE", "")
                cmd = [a.replace("{pane}", pane) for a in capture_cmd]
                try:
                    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=15)
                except subprocess.TimeoutExpired:
                    raise CaptureHang()
                if out.returncode != 0:
                    raise esctypes.InternalError("capture failed: " + out.stderr.decode(errors="replace"))
                lines = out.stdout.decode("utf-8", "replace").split("\n")
                if lines and lines[-1] == "":
                    lines.pop()
                grid = [cells(line) for line in lines[:ROWS]]
                grid += [[] for _ in range(ROWS - len(grid))]
                state["grid"] = [row + [" "] * (COLS - len(row)) for row in grid]
            return state["grid"]

        def checksum_of_rect(rect):
            grid = screen()
            dx = state["left"] - 1 if state["decom"] else 0
            dy = state["top"] - 1 if state["decom"] else 0
            total = 0
            for y in range(rect.top() + dy, rect.bottom() + dy + 1):
                for x in range(rect.left() + dx, rect.right() + dx + 1):
                    if 1 <= y <= len(grid) and 1 <= x <= len(grid[y - 1]):
                        total += ord(grid[y - 1][x - 1])
            return total

        escutil.GetChecksumOfRect = checksum_of_rect

        orig_size = escutil.GetScreenSize

        def screen_size():
            size = orig_size()
            if size_fix and (size.width(), size.height()) == (ROWS, COLS) and ROWS != COLS:
                if not state.get("size_fixed"):
                    state["size_fixed"] = True
                    emit(event="size_fixed")
                return esctypes.Size(COLS, ROWS)
            return size

        escutil.GetScreenSize = screen_size  # before esctest.py imports the tests

        # --- esctest.py without its main() ----------------------------------------------
        path = os.path.join(pkg, "esctest.py")
        code = re.sub(r"^main\(\)\s*$", "", open(path).read(), flags=re.M)
        runner = types.ModuleType("esctest_runner")
        runner.__file__ = path
        exec(compile(code, path, "exec"), runner.__dict__)
        runner.init()
    except Exception:
        emit(event="fatal", message=traceback.format_exc())
        sys.exit(2)

    started = set()
    with open(os.environ["ESCTEST_RESULTS"]) as f:
        for line in f:
            ev = json.loads(line)
            if ev.get("event") == "start":
                started.add(ev["test"])

    def on_alarm(signum, frame):
        raise TestTimeout()

    signal.signal(signal.SIGALRM, on_alarm)

    def drain():
        while select.select([0], [], [], 0.05)[0]:
            if not os.read(0, 4096):
                break

    def where(tb):
        frames = [f for f in traceback.extract_tb(tb) if "/tests/" in f.filename]
        f = frames[-1] if frames else traceback.extract_tb(tb)[-1]
        return "%s:%d" % (os.path.basename(f.filename), f.lineno)

    for name, method in runner.MatchingNamesAndMethods():
        if name in started:
            continue
        emit(event="start", test=name)
        t0 = time.time()
        status, message, phase = "pass", "", "reset"
        signal.alarm(test_timeout)
        try:
            drain()
            escio.use8BitControls = False
            if hard_reset:
                escio.Write("\x1bc")  # RIS, so one test's leftovers cannot fail the next
            runner.reset()
            phase = "test"
            method()
            escutil.AssertAssertionAsserted()
        except TestTimeout:
            status, message = "timeout", "ran past %ds (in %s)" % (test_timeout, phase)
        except CaptureHang:
            status, message = "hang", "capture did not answer within 15s (in %s)" % phase
        except esctypes.KnownBug as e:
            status = "xfail"
            message = str(e).split("\n")[0]
        except esctypes.InsufficientVTLevel as e:
            status, message = "skip", str(e)
        except Exception as e:
            if isinstance(e, esctypes.InternalError) and str(e).startswith("Should have failed"):
                status, message = "pass", "passes where esctest2 records an xterm bug"
            else:
                status = "fail"
                message = "%s%s: %s (%s)" % ("reset(): " if phase == "reset" else "",
                                             type(e).__name__, e, where(e.__traceback__))
        finally:
            signal.alarm(0)
        escutil.gHaveAsserted = False
        emit(event="result", test=name, status=status, message=message,
             seconds=round(time.time() - t0, 2))
        if status in ("timeout", "hang"):
            sys.exit(3)  # the terminal is in an unknown state: the outer part opens a new pane
    emit(event="end")


if __name__ == "__main__":
    inner()
