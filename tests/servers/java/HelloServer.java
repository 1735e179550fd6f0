// HelloServer PORT HOST...: the JDK's own HTTP server (com.sun.net.httpserver: NIO, a selector
// thread per address that accepts, one pool of 4 threads that answers) on PORT of each HOST, for
// tests/servers/java.bats.
import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

public class HelloServer {
    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        byte[] body = ("hotswap java ok pid=" + ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        for (int i = 1; i < args.length; i++) {
            HttpServer server = HttpServer.create(new InetSocketAddress(args[i], port), 128);
            server.createContext("/", exchange -> {
                exchange.getRequestBody().readAllBytes();
                exchange.sendResponseHeaders(200, body.length);
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            });
            server.setExecutor(pool);
            server.start();
        }
    }
}
