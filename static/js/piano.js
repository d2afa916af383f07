// The 88-key keyboard (A0-C8): drawing, lighting keys in players' colours, and input from
// the mouse, touch (Pointer Events, several fingers and glissando), the computer keyboard
// (two rows, labels on the keys, octave shift) and Web MIDI devices.

export const FIRST_KEY = 21; // A0
export const LAST_KEY = 108; // C8
const BLACK_STEPS = new Set([1, 3, 6, 8, 10]);
const NAMES = ["C", "C♯", "D", "D♯", "E", "F", "F♯", "G", "G♯", "A", "A♯", "B"];
const WHITE_KEYS = 52;
const KEYBOARD_VELOCITY = 96;

export function isBlack(key) {
  return BLACK_STEPS.has(key % 12);
}

export function noteName(key) {
  return `${NAMES[key % 12]}${Math.floor(key / 12) - 1}`;
}

// The common online-piano layout, by physical key (event.code, so it works on any layout):
// the bottom row plays from the base C, the top row an octave higher. [code, semitones, label]
const LOWER_ROW = [
  ["KeyZ", 0, "Z"], ["KeyS", 1, "S"], ["KeyX", 2, "X"], ["KeyD", 3, "D"], ["KeyC", 4, "C"],
  ["KeyV", 5, "V"], ["KeyG", 6, "G"], ["KeyB", 7, "B"], ["KeyH", 8, "H"], ["KeyN", 9, "N"],
  ["KeyJ", 10, "J"], ["KeyM", 11, "M"], ["Comma", 12, ","], ["KeyL", 13, "L"],
  ["Period", 14, "."], ["Semicolon", 15, ";"], ["Slash", 16, "/"],
];
const UPPER_ROW = [
  ["KeyQ", 12, "Q"], ["Digit2", 13, "2"], ["KeyW", 14, "W"], ["Digit3", 15, "3"],
  ["KeyE", 16, "E"], ["KeyR", 17, "R"], ["Digit5", 18, "5"], ["KeyT", 19, "T"],
  ["Digit6", 20, "6"], ["KeyY", 21, "Y"], ["Digit7", 22, "7"], ["KeyU", 23, "U"],
  ["KeyI", 24, "I"], ["Digit9", 25, "9"], ["KeyO", 26, "O"], ["Digit0", 27, "0"],
  ["KeyP", 28, "P"], ["BracketLeft", 29, "["], ["Equal", 30, "="], ["BracketRight", 31, "]"],
];
const DEFAULT_BASE = 48; // C3
const MIN_BASE = 24; // C1
const MAX_BASE = 72; // C5: the top row then ends on G7

// Inputs that take no typed text: with one of these focused (after touching the volume
// slider, a checkbox or a button) the computer keyboard still plays.
const KEYLESS_INPUTS = new Set([
  "range", "checkbox", "radio", "button", "submit", "reset", "color", "file", "image",
]);

/** Whether keys pressed on `target` are typing (a text field, a list, editable text). */
function isTyping(target) {
  if (!(target instanceof Element)) return false;
  if (target instanceof HTMLElement && target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) return !KEYLESS_INPUTS.has(target.type);
  return false;
}

export class Piano {
  /**
   * @param container the .piano element
   * @param actions {press(key, velocity), release(key), sustain(down), octave(base)}
   */
  constructor(container, actions) {
    this.container = container;
    this.actions = actions;
    this.keys = new Map(); // MIDI key -> element
    this.lights = new Map(); // MIDI key -> Map(source -> colour)
    this.pointers = new Map(); // pointerId -> MIDI key
    this.codes = new Map(); // event.code -> MIDI key held by it
    this.base = DEFAULT_BASE;
    this.build();
    this.bindPointer();
    this.bindKeyboard();
    this.showLabels();
  }

  build() {
    const width = 100 / WHITE_KEYS;
    let white = 0;
    const fragment = document.createDocumentFragment();
    for (let key = FIRST_KEY; key <= LAST_KEY; key += 1) {
      const node = document.createElement("div");
      node.dataset.midi = String(key);
      node.title = noteName(key);
      const label = document.createElement("span");
      label.className = "key-label";
      node.append(label);
      if (isBlack(key)) {
        node.className = "key black";
        node.style.left = `${white * width - width * 0.31}%`;
        node.style.width = `${width * 0.62}%`;
      } else {
        node.className = "key white";
        node.style.left = `${white * width}%`;
        node.style.width = `${width}%`;
        if (key % 12 === 0) {
          const octave = document.createElement("span");
          octave.className = "octave-mark";
          octave.textContent = noteName(key);
          node.append(octave);
        }
        white += 1;
      }
      this.keys.set(key, node);
      fragment.append(node);
    }
    this.container.replaceChildren(fragment);
  }

  // --- lighting ----------------------------------------------------------------------------

  light(key, colour, source) {
    const node = this.keys.get(key);
    if (!node) return;
    if (!this.lights.has(key)) this.lights.set(key, new Map());
    this.lights.get(key).set(source, colour);
    this.paint(key);
  }

  unlight(key, source) {
    const lights = this.lights.get(key);
    if (!lights || !lights.delete(source)) return;
    this.paint(key);
  }

  unlightSource(source) {
    for (const [key, lights] of this.lights) {
      if (lights.delete(source)) this.paint(key);
    }
  }

  paint(key) {
    const node = this.keys.get(key);
    const lights = this.lights.get(key);
    const sources = lights ? [...lights.keys()] : [];
    node.classList.toggle("lit", sources.length > 0);
    node.classList.toggle("lit-self", sources.includes("self"));
    node.classList.toggle("lit-remote", sources.some((source) => source !== "self"));
    if (sources.length) {
      node.style.setProperty("--lit", lights.get(sources[sources.length - 1]));
    } else {
      node.style.removeProperty("--lit");
    }
  }

  // --- pointer: mouse, pen, touch ------------------------------------------------------------

  keyAt(x, y) {
    const hit = document.elementFromPoint(x, y);
    const node = hit && hit.closest ? hit.closest(".key") : null;
    return node && this.container.contains(node) ? Number(node.dataset.midi) : null;
  }

  // Lower on the key is louder, as on a real one.
  velocityAt(key, y) {
    const box = this.keys.get(key).getBoundingClientRect();
    const depth = Math.min(1, Math.max(0, (y - box.top) / Math.max(1, box.height)));
    return Math.round(45 + 82 * depth);
  }

  bindPointer() {
    const container = this.container;
    container.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      const key = this.keyAt(event.clientX, event.clientY);
      if (key === null) return;
      event.preventDefault();
      this.pointers.set(event.pointerId, key);
      this.actions.press(key, this.velocityAt(key, event.clientY));
    });
    window.addEventListener("pointermove", (event) => {
      const held = this.pointers.get(event.pointerId);
      if (held === undefined) return;
      const key = this.keyAt(event.clientX, event.clientY);
      if (key === null || key === held) return;
      this.actions.release(held);
      this.pointers.set(event.pointerId, key);
      this.actions.press(key, this.velocityAt(key, event.clientY));
    });
    const end = (event) => {
      const held = this.pointers.get(event.pointerId);
      if (held === undefined) return;
      this.pointers.delete(event.pointerId);
      this.actions.release(held);
    };
    window.addEventListener("pointerup", end);
    window.addEventListener("pointercancel", end);
    container.addEventListener("contextmenu", (event) => event.preventDefault());
  }

  // --- computer keyboard ---------------------------------------------------------------------

  keyForCode(code) {
    for (const [rowCode, offset] of UPPER_ROW) if (rowCode === code) return this.base + offset;
    for (const [rowCode, offset] of LOWER_ROW) if (rowCode === code) return this.base + offset;
    return null;
  }

  bindKeyboard() {
    window.addEventListener("keydown", (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
      if (document.querySelector("dialog[open]")) return;
      if (event.code === "Space") {
        event.preventDefault();
        if (!event.repeat) this.actions.sustain(true);
        return;
      }
      if (event.code === "ArrowLeft" || event.code === "ArrowRight") {
        event.preventDefault();
        this.shiftOctave(event.code === "ArrowLeft" ? -1 : 1);
        return;
      }
      const key = this.keyForCode(event.code);
      if (key === null) return;
      // The piano has this key: a focused slider, checkbox or button does not also get it.
      event.preventDefault();
      if (event.repeat || this.codes.has(event.code)) return;
      this.codes.set(event.code, key);
      this.actions.press(key, KEYBOARD_VELOCITY);
    });
    window.addEventListener("keyup", (event) => {
      if (event.code === "Space") {
        // A focused button or checkbox acts on Space's keyup: the pedal keeps it.
        if (!isTyping(event.target) && !document.querySelector("dialog[open]")) event.preventDefault();
        this.actions.sustain(false);
        return;
      }
      const key = this.codes.get(event.code);
      if (key === undefined) return;
      event.preventDefault();
      this.codes.delete(event.code);
      this.actions.release(key);
    });
    // Keys held while the window loses focus would never see their keyup.
    window.addEventListener("blur", () => this.releaseAll());
  }

  releaseAll() {
    for (const key of this.codes.values()) this.actions.release(key);
    this.codes.clear();
    for (const key of this.pointers.values()) this.actions.release(key);
    this.pointers.clear();
  }

  shiftOctave(direction) {
    const base = Math.min(MAX_BASE, Math.max(MIN_BASE, this.base + 12 * direction));
    if (base === this.base) return;
    this.releaseAll();
    this.base = base;
    this.showLabels();
    this.actions.octave(base);
  }

  showLabels() {
    for (const node of this.keys.values()) node.firstChild.textContent = "";
    // The lower row first, so the top row's labels win where the two rows overlap.
    for (const [, offset, label] of [...LOWER_ROW, ...UPPER_ROW]) {
      const node = this.keys.get(this.base + offset);
      if (node) node.firstChild.textContent = label;
    }
  }

  /** Scroll a narrow screen's keyboard so the labelled keys are in view. */
  reveal(scroller) {
    const first = this.keys.get(this.base);
    if (!first || scroller.scrollWidth <= scroller.clientWidth) return;
    const left = first.offsetLeft - scroller.clientWidth * 0.15;
    scroller.scrollTo({ left: Math.max(0, left), behavior: "smooth" });
  }
}

/** Web MIDI input: note on/off and the sustain pedal (CC64) from every connected device. */
export async function connectMidi(actions) {
  if (!navigator.requestMIDIAccess) throw new Error("This browser has no Web MIDI.");
  const access = await navigator.requestMIDIAccess();
  const listen = (input) => {
    input.onmidimessage = (event) => {
      const [status, data1, data2] = event.data;
      const kind = status & 0xf0;
      if (kind === 0x90 && data2 > 0) actions.press(data1, data2);
      else if (kind === 0x80 || (kind === 0x90 && data2 === 0)) actions.release(data1);
      else if (kind === 0xb0 && data1 === 64) actions.sustain(data2 >= 64);
    };
  };
  access.inputs.forEach(listen);
  access.onstatechange = (event) => {
    if (event.port.type === "input" && event.port.state === "connected") listen(event.port);
  };
  return access.inputs.size;
}
