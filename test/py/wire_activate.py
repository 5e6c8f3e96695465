import os, socket, sys
host, port, lib, service = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((host, port))
l.listen()
os.dup2(l.fileno(), 3)
os.set_inheritable(3, True)
env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
if lib:
    env["LD_PRELOAD"] = lib
os.execve(sys.executable, [sys.executable, service], env)
