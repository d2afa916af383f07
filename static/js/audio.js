// A small piano-like synthesiser on the Web Audio API: per voice a few partials through a
// low-pass filter that closes as the note decays, an attack/decay/release envelope, velocity
// sensitivity, a sustain pedal per player, a voice limit and a master volume.

const MAX_VOICES = 64;
const ATTACK_S = 0.004;
const RELEASE_S = 0.28;
const VOLUME_KEY = "pianorhythm.volume";

function frequency(key) {
  return 440 * 2 ** ((key - 69) / 12);
}

export class Synth {
  constructor() {
    this.context = null;
    this.master = null;
    this.voices = new Map(); // `${source}:${key}` -> voice
    this.order = []; // voices, oldest first, for stealing
    this.sustain = new Map(); // source -> boolean
    this.held = new Map(); // source -> Set of keys whose note-off waits for the pedal
    const saved = Number(localStorage.getItem(VOLUME_KEY));
    this.volume = Number.isFinite(saved) && localStorage.getItem(VOLUME_KEY) !== null ? saved : 0.7;
  }

  /** Create (or resume) the audio context; browsers allow it after a user gesture. */
  ensure() {
    if (!this.context) {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return null;
      this.context = new Context({ latencyHint: "interactive" });
      const compressor = this.context.createDynamicsCompressor();
      compressor.threshold.value = -14;
      compressor.ratio.value = 4;
      this.master = this.context.createGain();
      this.master.gain.value = this.volume;
      this.master.connect(compressor).connect(this.context.destination);
    }
    if (this.context.state === "suspended") this.context.resume().catch(() => {});
    return this.context;
  }

  setVolume(value) {
    this.volume = Math.max(0, Math.min(1, value));
    localStorage.setItem(VOLUME_KEY, String(this.volume));
    if (this.master) this.master.gain.setTargetAtTime(this.volume, this.context.currentTime, 0.02);
  }

  /** Audio-clock time for a page-clock time (ms since the epoch); now if it has passed. */
  timeAt(clientMs) {
    const context = this.context;
    if (!context) return 0;
    const ahead = (clientMs - (performance.timeOrigin + performance.now())) / 1000;
    return context.currentTime + Math.max(0, ahead);
  }

  noteOn(source, key, velocity, when = 0) {
    const context = this.ensure();
    if (!context || context.state === "closed") return;
    const start = Math.max(when, context.currentTime);
    const id = `${source}:${key}`;
    const previous = this.voices.get(id);
    if (previous) this.release(previous, start, 0.06);
    while (this.order.length >= MAX_VOICES) this.release(this.order[0], context.currentTime, 0.03);

    const level = 0.06 + 0.3 * (velocity / 127) ** 1.6;
    const f = frequency(key);
    // Low notes ring for seconds, high ones die quickly, like strings do.
    const decay = Math.max(0.6, 7 - (key - 21) * 0.065);
    const output = context.createGain();
    output.gain.setValueAtTime(0, start);
    output.gain.linearRampToValueAtTime(level, start + ATTACK_S);
    output.gain.setTargetAtTime(level * 0.35, start + ATTACK_S, 0.12);
    output.gain.setTargetAtTime(0, start + 0.35, decay / 3);

    const filter = context.createBiquadFilter();
    filter.type = "lowpass";
    filter.Q.value = 0.7;
    const bright = Math.min(16000, f * (3 + 10 * (velocity / 127)));
    filter.frequency.setValueAtTime(bright, start);
    filter.frequency.setTargetAtTime(Math.max(f * 1.5, 400), start + 0.02, 0.5);
    filter.connect(output).connect(this.master);

    const partials = [
      ["triangle", 1, 1, 0],
      ["sine", 2, 0.35, 3],
      ["sine", 3, 0.12, -4],
      ["sine", 1, 0.5, 7],
    ];
    const oscillators = partials.map(([type, multiple, gain, cents]) => {
      const oscillator = context.createOscillator();
      oscillator.type = type;
      oscillator.frequency.value = f * multiple;
      oscillator.detune.value = cents;
      const partialGain = context.createGain();
      partialGain.gain.value = gain;
      oscillator.connect(partialGain).connect(filter);
      oscillator.start(start);
      oscillator.stop(start + decay * 3 + 1);
      return oscillator;
    });
    const voice = { id, source, key, output, oscillators, ended: false };
    oscillators[0].onended = () => this.forget(voice);
    this.voices.set(id, voice);
    this.order.push(voice);
    const held = this.held.get(source);
    if (held) held.delete(key);
  }

  noteOff(source, key, when = 0) {
    if (this.sustain.get(source)) {
      if (!this.held.has(source)) this.held.set(source, new Set());
      this.held.get(source).add(key);
      return;
    }
    const voice = this.voices.get(`${source}:${key}`);
    if (voice && this.context) this.release(voice, Math.max(when, this.context.currentTime));
  }

  setSustain(source, down, when = 0) {
    this.sustain.set(source, down);
    if (down || !this.context) return;
    const held = this.held.get(source);
    if (!held) return;
    for (const key of held) {
      const voice = this.voices.get(`${source}:${key}`);
      if (voice) this.release(voice, Math.max(when, this.context.currentTime));
    }
    held.clear();
  }

  /** Everything from `source` stops (a player left). */
  silence(source) {
    this.sustain.delete(source);
    this.held.delete(source);
    for (const voice of [...this.order]) {
      if (voice.source === source && this.context) this.release(voice, this.context.currentTime);
    }
  }

  release(voice, at, seconds = RELEASE_S) {
    if (voice.ended) return;
    voice.ended = true;
    const gain = voice.output.gain;
    // Hold the level the envelope has reached at `at`, then fade out.
    if (gain.cancelAndHoldAtTime) {
      gain.cancelAndHoldAtTime(at);
    } else {
      gain.cancelScheduledValues(at);
      gain.setValueAtTime(gain.value, at);
    }
    gain.setTargetAtTime(0, at, seconds / 4);
    for (const oscillator of voice.oscillators) {
      try {
        oscillator.stop(at + seconds * 1.5);
      } catch (error) {
        // Already stopped: nothing more to do.
      }
    }
    if (this.voices.get(voice.id) === voice) this.voices.delete(voice.id);
    this.order = this.order.filter((v) => v !== voice);
  }

  forget(voice) {
    if (this.voices.get(voice.id) === voice) this.voices.delete(voice.id);
    this.order = this.order.filter((v) => v !== voice);
    voice.output.disconnect();
  }
}
