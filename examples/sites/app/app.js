// Talks to the app through moreweb: a WebSocket, an event stream, a fetch.
const show = (id, text) => { document.getElementById(id).textContent = text; };

const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/live");
ws.onopen = () => ws.send("hello through the proxy");
ws.onmessage = (e) => show("ws", "echoed: " + e.data);
ws.onerror = () => show("ws", "failed");

const events = new EventSource("/api/events");
events.onmessage = (e) => show("events", e.data);
events.onerror = () => events.close();

fetch("/api/whoami").then((r) => r.json()).then((j) => show("whoami", JSON.stringify(j)));
