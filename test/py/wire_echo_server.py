import socket, sys
l = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen()
print("listening", flush=True)
c, _ = l.accept()
c.sendall(c.recv(6))
try:
    c.recv(100)
except OSError:
    pass
sys.stdin.readline()
