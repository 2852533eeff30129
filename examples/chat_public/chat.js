// The chat page's script. Everything received is shown with textContent, never innerHTML: other people's
// nicknames and messages are untrusted text.
"use strict";

const log = document.getElementById("log");
const statusLine = document.getElementById("status");
const joinForm = document.getElementById("join");
const sayForm = document.getElementById("say");
const nameInput = document.getElementById("name");
const textInput = document.getElementById("text");
let socket = null;
let myName = "";

function show(className, name, text) {
  const item = document.createElement("li");
  item.className = className;
  if (name !== null) {
    const who = document.createElement("span");
    who.className = "name";
    who.textContent = name;
    item.append(who);
  }
  item.append(document.createTextNode(text));
  log.append(item);
  log.scrollTop = log.scrollHeight;
}

function connect(name) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}/ws?name=${encodeURIComponent(name)}`);
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    switch (message.type) {
      case "welcome":
        myName = message.name;
        show("system", null, `You joined as ${myName}`);
        break;
      case "online":
        statusLine.textContent = `${message.count} online`;
        break;
      case "joined":
        show("system", null, `${message.name} joined`);
        break;
      case "left":
        show("system", null, `${message.name} left`);
        break;
      case "message":
        show("other", message.name, message.text);
        break;
    }
  };
  socket.onopen = () => {
    joinForm.hidden = true;
    sayForm.hidden = false;
    textInput.focus();
  };
  socket.onclose = (event) => {
    statusLine.textContent = "offline";
    show("system", null, `Disconnected (${event.code}${event.reason ? `: ${event.reason}` : ""})`);
    sayForm.hidden = true;
    joinForm.hidden = false;
  };
}

joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  connect(nameInput.value);
});

sayForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = textInput.value;
  if (text === "" || socket === null || socket.readyState !== WebSocket.OPEN) return;
  socket.send(text);
  // The server sends a message to everyone but its sender, so show our own here.
  show("mine", myName, text);
  textInput.value = "";
});
