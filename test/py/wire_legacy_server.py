import socketserver, sys, time
class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(self.request.recv(6))
        print("accepted", flush=True)
        t0 = time.monotonic()
        try:
            data = self.request.recv(100)
            print("eof %r after %.2f" % (data, time.monotonic() - t0), flush=True)
        except OSError as e:
            print("error %d after %.2f" % (e.errno, time.monotonic() - t0), flush=True)
socketserver.TCPServer.allow_reuse_address = True
with socketserver.TCPServer((sys.argv[1], int(sys.argv[2])), Handler) as server:
    print("listening", flush=True)
    server.handle_request()
    sys.stdin.readline()
