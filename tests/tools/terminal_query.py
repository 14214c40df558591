"""Write escape sequences to the terminal (argv, with \\e and \\a spelled out), then DA1, and
print what the terminal answered before its DA1 reply, with ESC and BEL made visible:
what a program that asks its terminal for colours reads."""
import os
import select
import sys
import termios
import tty

def main():
    queries = "".join(sys.argv[1:]).replace("\\e", "\x1b").replace("\\a", "\x07")
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    got = b""
    try:
        os.write(1, queries.encode() + b"\x1b[c")
        while b"\x1b[?" not in got or not got.rstrip().endswith(b"c"):
            ready, _, _ = select.select([fd], [], [], 10)
            if not ready:
                break
            got += os.read(fd, 1024)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
    answer = got[: got.rfind(b"\x1b[?")]
    print("ANSWER:" + answer.decode(errors="replace").replace("\x1b", "ESC").replace("\x07", "BEL"))

main()
