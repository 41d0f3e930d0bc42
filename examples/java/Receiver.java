// A dochooks webhook receiver in plain Java (JDK 11+, nothing to download): verifies each
// delivery as Standard Webhooks says, handles it once, and answers 200 to a repeat of a
// `webhook-id` it has already handled (delivery is at least once).
//
//   WEBHOOK_SECRET=whsec_... PORT=3000 java Receiver.java

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public class Receiver {
    static final long TOLERANCE_SECONDS = 5 * 60;

    // The webhook-ids already handled. A real app keeps them in its database (a unique
    // column), for longer than dochooks retries a delivery (about 17 hours, or more by hand).
    static final Set<String> processed = ConcurrentHashMap.newKeySet();
    static final List<String> handled = new ArrayList<>(); // what this process handled, for GET /handled

    public static void main(String[] args) throws IOException {
        String secret = System.getenv("WEBHOOK_SECRET");
        if (secret == null || secret.isEmpty()) {
            System.err.println("Set WEBHOOK_SECRET to the webhook's signing secret (whsec_...).");
            System.exit(2);
        }
        byte[] key = Base64.getDecoder().decode(secret.startsWith("whsec_") ? secret.substring(6) : secret);
        String host = System.getenv().getOrDefault("HOST", "127.0.0.1");
        int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "3000"));

        HttpServer server = HttpServer.create(new InetSocketAddress(host, port), 0);
        server.createContext("/webhooks", exchange -> receive(exchange, key));
        server.createContext("/handled", exchange -> {
            synchronized (handled) {
                answer(exchange, 200, "[" + String.join(",", handled) + "]");
            }
        });
        server.start();
        System.out.println("listening on http://" + host + ":" + port + "/webhooks");
    }

    static void receive(HttpExchange exchange, byte[] key) throws IOException {
        if (!exchange.getRequestMethod().equals("POST")) {
            answer(exchange, 405, "{\"error\": \"POST only\"}");
            return;
        }
        // The signature covers the exact bytes sent: verify the raw body before parsing it.
        byte[] body = exchange.getRequestBody().readAllBytes();
        String id = exchange.getRequestHeaders().getFirst("webhook-id");
        String timestamp = exchange.getRequestHeaders().getFirst("webhook-timestamp");
        String signatures = exchange.getRequestHeaders().getFirst("webhook-signature");
        if (id == null || timestamp == null || signatures == null) {
            answer(exchange, 400, "{\"error\": \"missing webhook-id, webhook-timestamp or webhook-signature\"}");
            return;
        }
        String refusal = verify(key, id, timestamp, signatures, body);
        if (refusal != null) {
            System.out.println("refused webhook-id=" + id + ": " + refusal);
            answer(exchange, 401, "{\"error\": \"" + refusal + "\"}");
            return;
        }
        Map<String, Object> payload;
        try {
            payload = Json.object(new String(body, StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            answer(exchange, 400, "{\"error\": \"the body is not a JSON object\"}");
            return;
        }
        // add() is atomic: of two concurrent deliveries of one id, only one is handled.
        if (!processed.add(id)) {
            System.out.println("ignored repeat webhook-id=" + id);
            answer(exchange, 200, "{\"status\": \"already handled\"}");
            return;
        }
        try {
            handle(payload, id);
        } catch (RuntimeException e) {
            processed.remove(id); // not handled: let dochooks retry it
            answer(exchange, 500, "{\"error\": \"handling failed\"}");
            return;
        }
        answer(exchange, 200, "{\"status\": \"handled\"}");
    }

    /** Null when one of the signatures is the HMAC of "id.timestamp.body" and the timestamp is recent, else why not. */
    static String verify(byte[] key, String id, String timestamp, String signatures, byte[] body) {
        long sent;
        try {
            sent = Long.parseLong(timestamp);
        } catch (NumberFormatException e) {
            return "webhook-timestamp is not a number";
        }
        if (Math.abs(System.currentTimeMillis() / 1000 - sent) > TOLERANCE_SECONDS) {
            return "webhook-timestamp is more than 5 minutes away";
        }
        byte[] expected;
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            mac.update((id + "." + timestamp + ".").getBytes(StandardCharsets.UTF_8));
            expected = Base64.getEncoder().encode(mac.doFinal(body));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
        // Several space-separated signatures while a secret rotates: any one of them will do.
        for (String versioned : signatures.split(" ")) {
            if (versioned.startsWith("v1,")
                    && MessageDigest.isEqual(expected, versioned.substring(3).getBytes(StandardCharsets.UTF_8))) {
                return null;
            }
        }
        return "no matching signature";
    }

    static void handle(Map<String, Object> payload, String id) {
        // Your work goes here: the payload says which document moved; GET /v1/documents/{id} has the rest.
        Object attributes = payload.get("attributes");
        Object documentId = attributes instanceof Map ? ((Map<?, ?>) attributes).get("document_id") : null;
        if (documentId == null) {
            documentId = payload.get("id");
        }
        String topic = String.valueOf(payload.get("topic"));
        String shown = documentId instanceof Double ? String.valueOf(((Double) documentId).longValue()) : String.valueOf(documentId);
        System.out.println("handled " + topic + " document=" + shown + " webhook-id=" + id);
        synchronized (handled) {
            handled.add("{\"webhook_id\": " + Json.quote(id) + ", \"topic\": " + Json.quote(topic)
                    + ", \"document_id\": " + Json.quote(shown) + "}");
        }
    }

    static void answer(HttpExchange exchange, int status, String json) throws IOException {
        byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }
}

/** Just enough JSON for the example (the JDK has no parser); a real app uses Jackson or Gson. */
class Json {
    private final String text;
    private int at;

    private Json(String text) {
        this.text = text;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> object(String text) {
        Json parser = new Json(text);
        Object value = parser.value();
        parser.space();
        if (!(value instanceof Map) || parser.at != text.length()) {
            throw new IllegalArgumentException("not a JSON object");
        }
        return (Map<String, Object>) value;
    }

    static String quote(String s) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"').toString();
    }

    private void space() {
        while (at < text.length() && Character.isWhitespace(text.charAt(at))) {
            at++;
        }
    }

    private char next() {
        space();
        if (at >= text.length()) {
            throw new IllegalArgumentException("unexpected end");
        }
        return text.charAt(at);
    }

    private void expect(char c) {
        if (next() != c) {
            throw new IllegalArgumentException("expected " + c + " at " + at);
        }
        at++;
    }

    private Object value() {
        char c = next();
        if (c == '{') {
            Map<String, Object> map = new LinkedHashMap<>();
            at++;
            if (next() == '}') {
                at++;
                return map;
            }
            do {
                String name = string();
                expect(':');
                map.put(name, value());
            } while (comma());
            expect('}');
            return map;
        }
        if (c == '[') {
            List<Object> list = new ArrayList<>();
            at++;
            if (next() == ']') {
                at++;
                return list;
            }
            do {
                list.add(value());
            } while (comma());
            expect(']');
            return list;
        }
        if (c == '"') {
            return string();
        }
        for (String word : new String[] {"true", "false", "null"}) {
            if (text.startsWith(word, at)) {
                at += word.length();
                return word.equals("null") ? null : Boolean.valueOf(word);
            }
        }
        int start = at;
        while (at < text.length() && "+-0123456789.eE".indexOf(text.charAt(at)) >= 0) {
            at++;
        }
        try {
            return Double.valueOf(text.substring(start, at));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bad value at " + start);
        }
    }

    private boolean comma() {
        if (next() == ',') {
            at++;
            return true;
        }
        return false;
    }

    private String string() {
        expect('"');
        StringBuilder out = new StringBuilder();
        while (true) {
            if (at >= text.length()) {
                throw new IllegalArgumentException("unterminated string");
            }
            char c = text.charAt(at++);
            if (c == '"') {
                return out.toString();
            }
            if (c != '\\') {
                out.append(c);
                continue;
            }
            if (at >= text.length()) {
                throw new IllegalArgumentException("unterminated string");
            }
            char e = text.charAt(at++);
            switch (e) {
                case 'n': out.append('\n'); break;
                case 't': out.append('\t'); break;
                case 'r': out.append('\r'); break;
                case 'b': out.append('\b'); break;
                case 'f': out.append('\f'); break;
                case 'u':
                    if (at + 4 > text.length()) {
                        throw new IllegalArgumentException("bad escape");
                    }
                    out.append((char) Integer.parseInt(text.substring(at, at + 4), 16));
                    at += 4;
                    break;
                default: out.append(e);
            }
        }
    }
}
