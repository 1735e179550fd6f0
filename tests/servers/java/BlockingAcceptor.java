// BlockingAcceptor PORT: java.net.ServerSocket with one acceptor thread blocked in accept(), as
// servlet containers' blocking acceptors are; its shutdown hook closes the socket and joins the
// thread. The JVM ends the blocked accept() by putting another file on the fd number and
// signalling the thread: for tests/servers/java.bats.
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

public class BlockingAcceptor {
    public static void main(String[] args) throws Exception {
        ServerSocket server = new ServerSocket();
        server.bind(new InetSocketAddress("127.0.0.1", Integer.parseInt(args[0])), 128);
        byte[] body = ("hotswap java ok pid=" + ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII);
        Thread acceptor = new Thread(() -> {
            while (!server.isClosed()) {
                try (Socket client = server.accept()) {
                    BufferedReader in = new BufferedReader(new InputStreamReader(client.getInputStream(), StandardCharsets.US_ASCII));
                    String line;
                    while ((line = in.readLine()) != null && !line.isEmpty()) {
                    }
                    OutputStream out = client.getOutputStream();
                    out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + body.length + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                    out.write(body);
                    out.flush();
                } catch (IOException e) {
                    // a client gone, or the socket closed by the shutdown hook: the loop decides
                }
            }
        });
        acceptor.start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                server.close();
                acceptor.join();
            } catch (Exception e) {
            }
        }));
    }
}
