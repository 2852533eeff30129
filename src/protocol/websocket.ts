/**
 * The server side of the WebSocket protocol (RFC 6455) without I/O: bytes read from the client go in
 * through {@linkcode WebSocketProtocol.receive}, messages come out through a {@linkcode WebSocketHandler},
 * and every frame to send is queued in an {@linkcode OutputBuffer} for the layer above to flush.
 *
 * No timers, no sockets: keepalive pings and close timeouts belong to the driver.
 *
 * @module
 */

import { COPY_THRESHOLD_BYTES, type OutputBuffer } from "../_output_buffer.ts";
import { CloseCode, encodeClosePayload, isValidReceivedCloseCode } from "./close.ts";
import {
  FIN_BIT,
  headerBytes,
  isControlOpcode,
  isReservedOpcode,
  MASK_BIT,
  MAX_CONTROL_PAYLOAD_BYTES,
  MAX_HEADER_BYTES,
  Opcode,
  OPCODE_BITS,
  putServerHeader,
  readPayloadLength,
  readUint32,
  RSV_BITS,
  serverHeaderBytes,
  unmask,
  writeFrame,
} from "./frame.ts";
import { type Borrower, giveBackMessageBuffer, takeMessageBuffer } from "./message_pool.ts";
import { isValidUtf8, Utf8Validator } from "./utf8.ts";

/** What the protocol reports to the layer above. Callbacks run synchronously inside the calls that cause them. */
export interface WebSocketHandler {
  /** A complete message. `data` is valid only during the call (a view into the reused message buffer or the read chunk). */
  onMessage(data: Uint8Array, isText: boolean): void;
  /** A ping arrived; while the connection is open, the pong with the same payload is already queued. */
  onPing?(payload: Uint8Array): void;
  /** A pong arrived (solicited or not). */
  onPong?(payload: Uint8Array): void;
  /**
   * The peer started the closing handshake (already validated; code 1005 when its close frame had no
   * code). Called before the echo is queued; not called when the peer answers our own close.
   */
  onPeerClose?(code: number, reason: string): void;
  /**
   * The protocol is finished: flush the output, then close the transport. Called exactly once.
   * `code`/`reason`: the peer's close (clean), or the code we failed the connection with, or 1006 when the
   * transport ended first (`wasClean` false).
   */
  onFinish(code: number, reason: string, wasClean: boolean): void;
  /**
   * The largest message the peer may send, in bytes; read at each data frame header, so changes apply at
   * once. A bigger message fails the connection with 1009.
   */
  maxMessageBytes(): number;
}

/** RFC 6455 §4, §7: `closing` once we sent a close frame, `closed` once the protocol is finished. */
export type WebSocketState = "open" | "closing" | "closed";

/**
 * A message buffer larger than this is dropped once its message is delivered, so an idle connection keeps
 * no large buffer; 64 KiB covers most chat and RPC traffic without reallocating.
 */
const KEEP_MESSAGE_BUFFER_BYTES = 64 * 1024;

/**
 * Bytes kept free in front of every message buffer large enough to be sent by reference: when the
 * application sends the message it was handed, the frame header goes there and header and payload leave in
 * one transport write. Sockets on Bun and Deno have no writev, so a header of its own costs a system call
 * per message. 16 (the largest server header is 10) keeps the payload 8-byte aligned.
 */
const HEADROOM_BYTES = 16;

/**
 * The buffer of the message being delivered, `null` between deliveries. One delivery runs at a time (one
 * nested in another saves and restores this state), so it lives here rather than in every connection.
 */
let lending: Uint8Array | null = null;
/** Who the message being delivered was written to by reference: `null`, one borrower or `MANY_BORROWERS`. */
let lentTo: Borrower | null = null;
/**
 * The header written into the room in front of the message being delivered, as `opcode + 16 * length`;
 * 0 while the room is unused. Sending that message again with the same header reuses the room; a different
 * header (other opcode or length) must not overwrite bytes a transport may still be writing.
 */
let headroomClaim = 0;

/** A zero-filled message buffer of `size` bytes, with room in front when it may be sent by reference. */
function newMessageBuffer(size: number): Uint8Array {
  return size > COPY_THRESHOLD_BYTES
    ? new Uint8Array(new ArrayBuffer(HEADROOM_BYTES + size), HEADROOM_BYTES, size)
    : new Uint8Array(size);
}

/** A message written to more than one connection: its buffer is never known to be free again. */
const MANY_BORROWERS: Borrower = { bufferedAmount: 1, transportOpen: false };
/**
 * Strings of at most this many UTF-16 units are encoded straight into the output slab: at 3 bytes a unit
 * they stay within the size the output buffer copies anyway.
 */
const MAX_SLAB_TEXT_UNITS = Math.floor(COPY_THRESHOLD_BYTES / 3);

const EMPTY = new Uint8Array(0);
const INVALID_TEXT = "Text message is not valid UTF-8";
const TOO_BIG = "Message is too big";
const encoder = new TextEncoder();
// Only validated bytes are decoded; a byte order mark is kept as data (RFC 6455 payloads are not documents).
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * One server-side WebSocket connection after the opening handshake (state `open`).
 *
 * Exceptions thrown by the handler's callbacks propagate out of the call that made them; the rest of the
 * chunk being received is then dropped, so the layer above should treat them as fatal (close with 1011).
 *
 * Helpers are TypeScript-private, not `#` methods: a class with `#` methods stores a brand in every
 * instance, a field per idle connection.
 */
export class WebSocketProtocol {
  #out: OutputBuffer;
  #handler: WebSocketHandler;
  #state: WebSocketState = "open";

  /** The start of a header split across chunks (at most 14 bytes). */
  #header: Uint8Array | null = null;
  #headerHave = 0;

  /** A header has been parsed and its payload is still arriving. */
  #inFrame = false;
  /** The frame's first header byte: FIN and the opcode (the RSV bits are checked to be 0). */
  #first = 0;
  #key = 0;
  #frameLength = 0;
  #frameReceived = 0;

  /** The opcode of the message being received, 0 between messages. */
  #messageOpcode = 0;
  /** Message bytes received so far (buffered ones only: an unfragmented frame in one chunk is never buffered). */
  #messageLength = 0;
  /** Reused from message to message; allocated when first needed, dropped when large or given away. */
  #message: Uint8Array | null = null;
  /** `maxMessageBytes()` as read at the last data frame header: how far a fragmented message may grow. */
  #limit = 0;
  /** Allocated with the first fragmented text message; idle connections hold none. */
  #utf8: Utf8Validator | null = null;
  /** A control frame's payload split across chunks. */
  #control: Uint8Array | null = null;

  /**
   * @param out Where frames to send are queued; the caller flushes it after each call.
   * @param handler Receives messages and the end of the protocol, and sets the message size limit.
   */
  constructor(out: OutputBuffer, handler: WebSocketHandler) {
    this.#out = out;
    this.#handler = handler;
  }

  /** `open`, `closing` after {@linkcode WebSocketProtocol.close}, `closed` once finished. */
  get state(): WebSocketState {
    return this.#state;
  }

  /**
   * Bytes read from the client. Parses every frame in the chunk synchronously and unmasks it in place (the
   * chunk is ours during the call). A peer's protocol violation never throws: it queues a close frame and
   * finishes the protocol (RFC 6455 §7.1.7). Ignored once closed.
   */
  receive(chunk: Uint8Array): void {
    const end = chunk.length;
    let pos = 0;
    while (pos < end && this.#state !== "closed") {
      if (!this.#inFrame) {
        const payloadStart = this.receiveHeader(chunk, pos, end);
        if (payloadStart < 0) return;
        pos = payloadStart;
        const stop = pos + this.#frameLength;
        if (stop <= end) {
          this.receiveWholeFrame(chunk, pos, stop);
          pos = stop;
          continue;
        }
        this.#inFrame = true;
      }
      const stop = Math.min(end, pos + this.#frameLength - this.#frameReceived);
      this.receivePartialFrame(chunk, pos, stop);
      pos = stop;
    }
  }

  /**
   * Queues a message as one frame. Text given as a string is encoded here; text given as bytes must be
   * valid UTF-8 (the caller guarantees it). Bytes above `COPY_THRESHOLD_BYTES` are queued by reference:
   * do not modify them until the output is written.
   *
   * @returns `false`, queueing nothing, unless the state is `open`.
   */
  send(data: Uint8Array | string, isText: boolean): boolean {
    if (this.#state !== "open") return false;
    const opcode = isText ? Opcode.Text : Opcode.Binary;
    if (typeof data === "string") this.writeString(opcode, data);
    else writeFrame(this.#out, opcode, data);
    return true;
  }

  /**
   * Queues a frame from `encodeFrame` by reference, so one encoding serves many connections (broadcast).
   *
   * @returns `false`, queueing nothing, unless the state is `open`.
   */
  sendEncoded(frame: Uint8Array): boolean {
    if (this.#state !== "open") return false;
    this.#out.push(frame);
    return true;
  }

  /**
   * Queues a ping; the peer answers with a pong carrying the same payload (RFC 6455 §5.5.2).
   *
   * @param payload Default empty.
   * @returns `false`, queueing nothing, unless the state is `open`.
   * @throws {RangeError} When `payload` is longer than 125 bytes (§5.5).
   */
  sendPing(payload: Uint8Array = EMPTY): boolean {
    if (payload.length > MAX_CONTROL_PAYLOAD_BYTES) {
      throw new RangeError(
        `Ping payload is ${payload.length} bytes; at most ${MAX_CONTROL_PAYLOAD_BYTES} are allowed`,
      );
    }
    if (this.#state !== "open") return false;
    writeFrame(this.#out, Opcode.Ping, payload);
    return true;
  }

  /**
   * Starts the closing handshake (RFC 6455 §7.1.2): queues a close frame and enters `closing`. Messages
   * still arrive until the peer's close completes the handshake. Does nothing unless the state is `open`.
   *
   * @param code Default 1000. Allowed: 1000–1003, 1007–1011, 3000–4999.
   * @param reason Default empty; at most 123 bytes in UTF-8.
   * @throws {RangeError} For any other code or a longer reason, whatever the state.
   */
  close(code: number = CloseCode.Normal, reason = ""): void {
    const payload = encodeClosePayload(code, reason);
    if (this.#state !== "open") return;
    this.#state = "closing";
    writeFrame(this.#out, Opcode.Close, payload);
  }

  /** The transport ended without a closing handshake: finishes with 1006 unless already finished. */
  transportClosed(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.finish(CloseCode.Abnormal, "", false);
  }

  /**
   * Gives the buffer of the message being delivered (on whichever connection: one delivery runs at a time)
   * away if `view` shares it, so the next message gets another one: `borrower` may be writing it by
   * reference. The layer above calls it when the application queues data to be sent; outside a delivery it
   * does nothing. Once the delivery returns, a buffer lent to one borrower goes
   * to the message pool to be reused when that borrower has written it; one lent to several is dropped.
   * Views into a read chunk are not covered: the transport owns those.
   */
  static releaseIfShared(view: Uint8Array, borrower: Borrower): void {
    if (lending === null || view.buffer !== lending.buffer) return;
    lentTo = lentTo === null || lentTo === borrower ? borrower : MANY_BORROWERS;
  }

  /**
   * The whole frame for sending `view` with `opcode`, its header written into the room kept in front of the
   * message buffer, so header and payload go out as one chunk. Only while `view`'s message is being
   * delivered, when `view` starts at the message's first byte (the bytes before any other view are
   * message bytes), and when the room is unused or already holds this same header (the message sent
   * twice); `null` otherwise: the caller queues a header of its own. Call
   * {@linkcode WebSocketProtocol.releaseIfShared} too, since the frame references the message buffer.
   */
  static frameInPlace(view: Uint8Array, opcode: Opcode): Uint8Array | null {
    if (
      lending === null || view.buffer !== lending.buffer ||
      view.byteOffset !== lending.byteOffset ||
      lending.byteOffset !== HEADROOM_BYTES
    ) {
      return null;
    }
    const length = view.length;
    const claim = opcode + 16 * length;
    if (headroomClaim !== 0 && headroomClaim !== claim) return null;
    headroomClaim = claim;
    const headerSize = serverHeaderBytes(length);
    const frame = new Uint8Array(view.buffer, HEADROOM_BYTES - headerSize, headerSize + length);
    putServerHeader(frame, 0, opcode, length);
    return frame;
  }

  /**
   * Parses the header at `chunk[pos]`, or stashes what there is of it.
   *
   * @returns Where the payload starts, or -1 when the chunk ended inside the header or the header failed
   * the connection.
   */
  private receiveHeader(chunk: Uint8Array, pos: number, end: number): number {
    if (this.#headerHave === 0 && end - pos >= 2) {
      const next = pos + headerBytes(chunk[pos + 1]);
      if (next <= end) return this.parseHeader(chunk, pos) ? next : -1;
    }
    const stash = this.#header ??= new Uint8Array(MAX_HEADER_BYTES);
    while (pos < end) {
      stash[this.#headerHave++] = chunk[pos++];
      if (this.#headerHave >= 2 && this.#headerHave === headerBytes(stash[1])) {
        this.#headerHave = 0;
        return this.parseHeader(stash, 0) ? pos : -1;
      }
    }
    return -1;
  }

  /** Checks a complete header (RFC 6455 §5.2–§5.5) and starts its frame; `false` when it failed. */
  private parseHeader(bytes: Uint8Array, at: number): boolean {
    const first = bytes[at];
    const second = bytes[at + 1];
    const opcode = first & OPCODE_BITS;
    const fin = (first & FIN_BIT) !== 0;
    // No extension is negotiated, so RSV1-3 must be 0 (§5.2).
    if ((first & RSV_BITS) !== 0) {
      return this.fail(CloseCode.ProtocolError, "Reserved bits are set");
    }
    if (isReservedOpcode(opcode)) return this.fail(CloseCode.ProtocolError, "Reserved opcode");
    // §5.1: a server must close the connection when it receives an unmasked frame.
    if ((second & MASK_BIT) === 0) {
      return this.fail(CloseCode.ProtocolError, "Client frame is not masked");
    }
    const length = readPayloadLength(bytes, at);
    if (length < 0) {
      return this.fail(CloseCode.ProtocolError, "Payload length has its top bit set");
    }
    if (isControlOpcode(opcode)) {
      if (!fin) return this.fail(CloseCode.ProtocolError, "Control frame is fragmented");
      if (length > MAX_CONTROL_PAYLOAD_BYTES) {
        return this.fail(CloseCode.ProtocolError, "Control frame is longer than 125 bytes");
      }
    } else {
      // §5.4: fragments of one message are contiguous, and only the first one has a data opcode.
      if (opcode === Opcode.Continuation) {
        if (this.#messageOpcode === 0) {
          return this.fail(CloseCode.ProtocolError, "Continuation frame without a message");
        }
      } else if (this.#messageOpcode !== 0) {
        return this.fail(CloseCode.ProtocolError, "New message inside a fragmented message");
      } else {
        this.#messageOpcode = opcode;
        if (opcode === Opcode.Text) this.#utf8?.reset();
      }
      // Checked before any of the payload is buffered, against the whole message so far.
      const limit = this.#handler.maxMessageBytes();
      if (this.#messageLength + length > limit) {
        return this.fail(CloseCode.MessageTooBig, TOO_BIG);
      }
      this.#limit = limit;
    }
    this.#first = first;
    this.#frameLength = length;
    this.#frameReceived = 0;
    this.#key = readUint32(bytes, at + headerBytes(second) - 4);
    return true;
  }

  /** A frame whose payload `chunk[start..stop)` arrived whole. */
  private receiveWholeFrame(chunk: Uint8Array, start: number, stop: number): void {
    unmask(chunk, start, stop, this.#key);
    const first = this.#first;
    const opcode = first & OPCODE_BITS;
    const fin = (first & FIN_BIT) !== 0;
    if (isControlOpcode(opcode)) {
      this.receiveControl(chunk.subarray(start, stop));
    } else if (fin && opcode !== Opcode.Continuation) {
      // An unfragmented message inside one chunk: delivered as a view, never copied.
      const data = chunk.subarray(start, stop);
      const isText = opcode === Opcode.Text;
      if (isText && !isValidUtf8(data)) {
        this.fail(CloseCode.InvalidPayload, INVALID_TEXT);
        return;
      }
      this.#messageOpcode = 0;
      this.#handler.onMessage(data, isText);
    } else if (this.bufferData(chunk, start, stop, stop - start) && fin) {
      this.finishMessage();
    }
  }

  /** The part `chunk[start..stop)` of a frame's payload that did not arrive in one chunk. */
  private receivePartialFrame(chunk: Uint8Array, start: number, stop: number): void {
    const received = this.#frameReceived;
    unmask(chunk, start, stop, this.#key, received);
    this.#frameReceived = received + (stop - start);
    const done = this.#frameReceived === this.#frameLength;
    if (done) this.#inFrame = false;
    const first = this.#first;
    if (isControlOpcode(first & OPCODE_BITS)) {
      const control = this.#control ??= new Uint8Array(MAX_CONTROL_PAYLOAD_BYTES);
      control.set(chunk.subarray(start, stop), received);
      if (done) this.receiveControl(control.subarray(0, this.#frameLength));
    } else if (
      this.bufferData(chunk, start, stop, this.#frameLength - received) && done &&
      (first & FIN_BIT) !== 0
    ) {
      this.finishMessage();
    }
  }

  /**
   * Validates (text) and appends unmasked message bytes to the message buffer, making room for the rest of
   * the frame (`frameLeft` bytes, these included). `false` when the bytes failed the connection.
   */
  private bufferData(chunk: Uint8Array, start: number, stop: number, frameLeft: number): boolean {
    // §8.1: fail as soon as the bytes cannot be valid UTF-8, not when the message is complete.
    if (
      this.#messageOpcode === Opcode.Text &&
      !(this.#utf8 ??= new Utf8Validator()).feed(chunk, start, stop)
    ) {
      return this.fail(CloseCode.InvalidPayload, INVALID_TEXT);
    }
    if (stop === start) return true;
    const at = this.#messageLength;
    const required = at + frameLeft;
    let message = this.#message;
    if (message === null || message.length < required) {
      const capacity = message === null ? 0 : message.length;
      // The final frame fixes the message's size; before it, doubling keeps copies linear, up to the limit.
      const size = (this.#first & FIN_BIT) !== 0
        ? required
        : Math.max(required, Math.min(capacity * 2, this.#limit));
      let grown: Uint8Array;
      try {
        grown = (size > KEEP_MESSAGE_BUFFER_BYTES ? takeMessageBuffer(size) : null) ??
          newMessageBuffer(size);
      } catch {
        // Only reachable with a limit above what the runtime can allocate (e.g. Infinity): the peer's
        // declared length must not crash the process.
        return this.fail(CloseCode.MessageTooBig, TOO_BIG);
      }
      if (message !== null) {
        if (at > 0) grown.set(message.subarray(0, at));
        if (capacity > KEEP_MESSAGE_BUFFER_BYTES) giveBackMessageBuffer(message, null);
      }
      this.#message = message = grown;
    }
    message.set(chunk.subarray(start, stop), at);
    this.#messageLength = at + (stop - start);
    return true;
  }

  /** The final fragment is in: delivers the buffered message. */
  private finishMessage(): void {
    const isText = this.#messageOpcode === Opcode.Text;
    if (isText && this.#utf8 !== null && !this.#utf8.complete) {
      this.fail(CloseCode.InvalidPayload, INVALID_TEXT);
      return;
    }
    const length = this.#messageLength;
    const message = this.#message;
    this.#messageOpcode = 0;
    this.#messageLength = 0;
    if (message === null) {
      this.#handler.onMessage(EMPTY, isText);
      return;
    }
    const outerLending = lending;
    const outerLentTo = lentTo;
    const outerClaim = headroomClaim;
    lending = message;
    lentTo = null;
    headroomClaim = 0;
    let borrower: Borrower | null;
    try {
      this.#handler.onMessage(message.subarray(0, length), isText);
    } finally {
      borrower = lentTo;
      lending = outerLending;
      lentTo = outerLentTo;
      headroomClaim = outerClaim;
    }
    // Past 64 KiB the buffer goes back to the pool, so an idle connection keeps none; a lent one goes
    // whatever its size, since this connection may not reuse it.
    if (borrower !== null || message.length > KEEP_MESSAGE_BUFFER_BYTES) {
      if (this.#message === message) this.#message = null;
      if (borrower !== MANY_BORROWERS && message.length > KEEP_MESSAGE_BUFFER_BYTES) {
        giveBackMessageBuffer(message, borrower);
      }
    }
  }

  /** A whole, unmasked control frame payload (§5.5), handled at once even between fragments. */
  private receiveControl(payload: Uint8Array): void {
    switch (this.#first & OPCODE_BITS) {
      case Opcode.Ping:
        // §5.5.3: answer with the same payload. Once our close frame is queued nothing may follow it.
        if (this.#state === "open") writeFrame(this.#out, Opcode.Pong, payload);
        this.#handler.onPing?.(payload);
        return;
      case Opcode.Pong:
        this.#handler.onPong?.(payload);
        return;
      default:
        this.receiveClose(payload);
    }
  }

  /** §5.5.1, §7.1.5: a close frame's payload is empty, or a code and a UTF-8 reason. */
  private receiveClose(payload: Uint8Array): void {
    let code: number = CloseCode.NoStatus;
    let reason = "";
    if (payload.length === 1) {
      this.fail(CloseCode.ProtocolError, "Close frame payload is 1 byte");
      return;
    }
    if (payload.length >= 2) {
      code = (payload[0] << 8) | payload[1];
      if (!isValidReceivedCloseCode(code)) {
        this.fail(CloseCode.ProtocolError, "Invalid close code");
        return;
      }
      // Most close frames carry a code alone: no view, check or decode for an empty reason.
      if (payload.length > 2) {
        const reasonBytes = payload.subarray(2);
        if (!isValidUtf8(reasonBytes)) {
          this.fail(CloseCode.InvalidPayload, "Close reason is not valid UTF-8");
          return;
        }
        reason = decoder.decode(reasonBytes);
      }
    }
    if (this.#state === "open") this.#handler.onPeerClose?.(code, reason);
    // The handler may have closed the connection (no echo then) or lost the transport meanwhile.
    const state = this.#state;
    if (state === "closed") return;
    // §5.5.1: echo the status code.
    if (state === "open") {
      writeFrame(this.#out, Opcode.Close, payload.length === 2 ? payload : payload.subarray(0, 2));
    }
    // Either the echo is queued or the peer answered our close: the handshake is complete (§7.1.4), and
    // anything the peer sends after its close frame is ignored.
    this.#state = "closed";
    this.finish(code, reason, true);
  }

  /** Encodes `text` straight into the output slab behind its header when it is small enough. */
  private writeString(opcode: Opcode, text: string): void {
    const units = text.length;
    if (units > MAX_SLAB_TEXT_UNITS) {
      writeFrame(this.#out, opcode, encoder.encode(text));
      return;
    }
    const out = this.#out;
    const maxBytes = units * 3;
    const target = out.reserve(serverHeaderBytes(maxBytes) + maxBytes);
    const at = out.offset;
    // Encode behind the header that all-ASCII text needs (one byte per UTF-16 unit is the minimum), and
    // move the bytes when the text turns out to need a longer length field.
    const guess = serverHeaderBytes(units);
    const written =
      encoder.encodeInto(text, target.subarray(at + guess, at + guess + maxBytes)).written;
    const header = serverHeaderBytes(written);
    if (header !== guess) target.copyWithin(at + header, at + guess, at + guess + written);
    putServerHeader(target, at, opcode, written);
    out.commit(header + written);
  }

  /** Fails the connection (§7.1.7): queues a close frame unless one was sent, then finishes. Returns `false`. */
  private fail(code: number, reason: string): false {
    if (this.#state === "closed") return false;
    const wasOpen = this.#state === "open";
    this.#state = "closed";
    if (wasOpen) writeFrame(this.#out, Opcode.Close, encodeClosePayload(code, reason));
    this.finish(code, reason, false);
    return false;
  }

  private finish(code: number, reason: string, wasClean: boolean): void {
    // Nothing more will be received: hold no buffers for a connection that is going away.
    this.#message = null;
    this.#control = null;
    this.#messageLength = 0;
    this.#messageOpcode = 0;
    this.#inFrame = false;
    this.#headerHave = 0;
    this.#handler.onFinish(code, reason, wasClean);
  }
}
