// The real-time protocol in the browser: the server's own .proto file, parsed by protobuf.js,
// and a small reflection-driven encoder/decoder on protobuf.js' Reader and Writer.
//
// Why not protobuf.js' generated codecs (Type.encode/decode)? They are built with `new
// Function(...)`, which a Content-Security-Policy without 'unsafe-eval' forbids. Walking the
// reflected fields is slower, but our messages are small and few.
//
// Messages are plain objects with the .proto's snake_case field names. A oneof is reported as
// `msg[oneofName] = fieldName` (e.g. `frameMessage.kind === "chat"`). Enums are numbers; use
// `enumValue("NoteEventType", "NOTE_ON")` and `enumName("ErrorCode", n)` (short names).

const protobuf = window.protobuf;
const PACKAGE = "pianorhythm.v1";

export const SUBPROTOCOL = "pianorhythm.v1.proto";

function isDefault(value) {
  return value === 0 || value === false || value === "" || (Array.isArray(value) && !value.length);
}

function writeScalar(writer, type, value) {
  switch (type) {
    case "double": return writer.double(value);
    case "float": return writer.float(value);
    case "bool": return writer.bool(Boolean(value));
    case "string": return writer.string(String(value));
    case "bytes": return writer.bytes(value);
    case "uint32": return writer.uint32(value >>> 0);
    case "int32": return writer.int32(value | 0);
    case "sint32": return writer.sint32(value | 0);
    case "fixed32": return writer.fixed32(value >>> 0);
    case "sfixed32": return writer.sfixed32(value | 0);
    default: throw new Error(`unsupported field type ${type}`);
  }
}

function readScalar(reader, type) {
  switch (type) {
    case "double": return reader.double();
    case "float": return reader.float();
    case "bool": return reader.bool();
    case "string": return reader.string();
    case "bytes": return reader.bytes();
    case "uint32": return reader.uint32();
    case "int32": return reader.int32();
    case "sint32": return reader.sint32();
    case "fixed32": return reader.fixed32();
    case "sfixed32": return reader.sfixed32();
    default: throw new Error(`unsupported field type ${type}`);
  }
}

export class Protocol {
  constructor(root) {
    this.root = root;
    this.clientMessage = root.lookupType(`${PACKAGE}.ClientMessage`);
    this.serverFrame = root.lookupType(`${PACKAGE}.ServerFrame`);
    this.enumPrefixes = new Map();
  }

  /** ClientMessage object -> Uint8Array, e.g. {chat: {text: "hi"}}. */
  encodeClient(message) {
    const writer = protobuf.Writer.create();
    this.write(this.clientMessage, message, writer);
    return writer.finish();
  }

  /** Binary ServerFrame -> array of ServerMessage objects. */
  decodeFrame(bytes) {
    const reader = protobuf.Reader.create(bytes);
    return this.read(this.serverFrame, reader, reader.len).messages;
  }

  write(type, message, writer) {
    for (const field of type.fieldsArray) {
      field.resolve();
      const value = message[field.name];
      if (value === undefined || value === null) continue;
      const sub = field.resolvedType;
      const isEnum = sub instanceof protobuf.Enum;
      const isMessage = sub instanceof protobuf.Type;
      const scalarType = isEnum ? "int32" : field.type;
      const toWire = (v) => (isEnum && typeof v === "string" ? sub.values[v] : v);
      if (field.repeated) {
        if (!value.length) continue;
        if (isMessage || field.type === "string" || field.type === "bytes") {
          for (const item of value) this.writeOne(field, item, writer, isMessage, scalarType);
        } else {
          writer.uint32((field.id << 3) | 2).fork();
          for (const item of value) writeScalar(writer, scalarType, toWire(item));
          writer.ldelim();
        }
        continue;
      }
      // Fields with presence (messages, oneof members, `optional`) are written when set;
      // plain proto3 scalars only when they differ from their default.
      if (!isMessage && !field.partOf && isDefault(value)) continue;
      this.writeOne(field, toWire(value), writer, isMessage, scalarType);
    }
  }

  writeOne(field, value, writer, isMessage, scalarType) {
    if (isMessage) {
      writer.uint32((field.id << 3) | 2).fork();
      this.write(field.resolvedType, value, writer);
      writer.ldelim();
      return;
    }
    const wireType = protobuf.types.basic[scalarType];
    writer.uint32((field.id << 3) | wireType);
    writeScalar(writer, scalarType, value);
  }

  read(type, reader, length) {
    const end = reader.pos + length;
    const message = {};
    while (reader.pos < end) {
      const tag = reader.uint32();
      const field = type.fieldsById[tag >>> 3];
      const wireType = tag & 7;
      if (!field) {
        reader.skipType(wireType);
        continue;
      }
      field.resolve();
      const sub = field.resolvedType;
      const isMessage = sub instanceof protobuf.Type;
      const scalarType = sub instanceof protobuf.Enum ? "int32" : field.type;
      let value;
      if (isMessage) {
        value = this.read(sub, reader, reader.uint32());
      } else if (field.repeated && wireType === 2 && protobuf.types.packed[scalarType] !== undefined) {
        const packedEnd = reader.uint32() + reader.pos;
        const list = message[field.name] || (message[field.name] = []);
        while (reader.pos < packedEnd) list.push(readScalar(reader, scalarType));
        continue;
      } else {
        value = readScalar(reader, scalarType);
      }
      if (field.repeated) {
        (message[field.name] || (message[field.name] = [])).push(value);
      } else {
        message[field.name] = value;
        // Name the oneof's chosen field; proto3 `optional` fields sit in synthetic "_x" oneofs.
        if (field.partOf && !field.partOf.name.startsWith("_")) {
          message[field.partOf.name] = field.name;
        }
      }
    }
    // Readers see proto3 defaults for absent plain fields, [] for absent lists.
    for (const field of type.fieldsArray) {
      if (message[field.name] !== undefined) continue;
      if (field.repeated) message[field.name] = [];
      else if (field.partOf || field.resolvedType instanceof protobuf.Type) continue;
      else if (field.resolvedType instanceof protobuf.Enum) message[field.name] = 0;
      else if (field.type === "string") message[field.name] = "";
      else if (field.type === "bool") message[field.name] = false;
      else if (field.type === "bytes") message[field.name] = new Uint8Array(0);
      else message[field.name] = 0;
    }
    return message;
  }

  enumType(name) {
    return this.root.lookupEnum(`${PACKAGE}.${name}`);
  }

  // Values carry their enum's name as a prefix (ERROR_CODE_ROOM_FULL); the prefix is what
  // the zero value (..._UNSPECIFIED) has before "UNSPECIFIED".
  enumPrefix(name) {
    if (!this.enumPrefixes.has(name)) {
      const zero = this.enumType(name).valuesById[0];
      this.enumPrefixes.set(name, zero.slice(0, zero.length - "UNSPECIFIED".length));
    }
    return this.enumPrefixes.get(name);
  }

  /** enumValue("ErrorCode", "ROOM_FULL") -> 5 */
  enumValue(name, shortName) {
    const value = this.enumType(name).values[this.enumPrefix(name) + shortName];
    if (value === undefined) throw new Error(`no ${shortName} in ${name}`);
    return value;
  }

  /** enumName("ErrorCode", 5) -> "ROOM_FULL" ("" for unknown numbers) */
  enumName(name, value) {
    const full = this.enumType(name).valuesById[value];
    return full ? full.slice(this.enumPrefix(name).length) : "";
  }
}

/** Fetch and parse the server's .proto file. */
export async function loadProtocol(url) {
  if (!protobuf) throw new Error("protobuf.js did not load");
  const response = await fetch(url, { credentials: "same-origin", cache: "no-cache" });
  if (!response.ok) throw new Error(`could not load the protocol (${response.status})`);
  const root = protobuf.parse(await response.text(), { keepCase: true }).root;
  root.resolveAll();
  return new Protocol(root);
}
