// The neuropos viewer: draws an embedded network from the data `neuropos viz --html` inlined
// in the page. Plain WebGL when the browser offers it, a 2-D canvas otherwise (headless
// browsers without a GPU often refuse WebGL); both draw the same points and lines, which are
// projected here so hovering can find a neuron under the pointer.
(function () {
  'use strict';

  const data = JSON.parse(document.getElementById('neuropos-data').textContent);
  const $ = (id) => document.getElementById(id);

  // ---- decoding (typed arrays travel as base64 of their little-endian bytes) ----
  function bytes(b64) {
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  const f32 = (b64) => { const u = bytes(b64); return new Float32Array(u.buffer, 0, u.length >> 2); };
  const i8 = (b64) => new Int8Array(bytes(b64).buffer);

  const model = data.model;
  const dim = model.dim;
  const layers = data.layers.map((l) => ({
    name: l.name,
    n: l.n,
    pos: f32(l.positions),
    view: f32(l.view),
    mask: l.mask ? f32(l.mask) : null,
    bias: l.bias ? f32(l.bias) : null,
    act: l.activity ? i8(l.activity) : null,
    scale: l.scale || null,
  }));
  const depth = layers.length;
  const pixels = bytes(data.inputs.pixels);
  const inputs = data.inputs;
  const pruning = data.pruning;
  const BG = [250, 250, 250];

  // ---- state ----
  const state = {
    input: Math.min(data.first_digit || 0, 9),
    level: 0,
    rank: 0,
    colour: 'passes',
    budget: 500,
    stretch: 0, // log2 of the layer axis' stretch relative to the automatic one
    yaw: -0.6,
    pitch: 0.35,
    zoom: 1,
    panX: 0,
    panY: 0,
  };

  // ---- colours: blue (−1) – grey (0) – red (+1), as `neuropos viz` ----
  const NEG = [33, 102, 172];
  const ZERO = [200, 200, 200];
  const POS = [178, 24, 43];
  function diverging(t, out, o) {
    const c = t < 0 ? NEG : POS;
    const s = Math.min(1, Math.abs(t));
    out[o] = (ZERO[0] + (c[0] - ZERO[0]) * s) / 255;
    out[o + 1] = (ZERO[1] + (c[1] - ZERO[1]) * s) / 255;
    out[o + 2] = (ZERO[2] + (c[2] - ZERO[2]) * s) / 255;
    out[o + 3] = 1;
  }

  // The raw activity of layer l for the current input: pixels for the input layer, else the
  // dequantised activity (hidden activations or spike counts; logits or output spike counts).
  function activity(l) {
    const layer = layers[l];
    const out = new Float32Array(layer.n);
    if (l === 0) {
      const base = state.input * 784;
      for (let i = 0; i < layer.n; i++) out[i] = pixels[base + i] / 255;
    } else {
      const base = state.input * layer.n;
      const s = layer.scale[state.input] / 127;
      for (let i = 0; i < layer.n; i++) out[i] = layer.act[base + i] * s;
    }
    return out;
  }

  function shown(l) {
    const layer = layers[l];
    if (state.colour === 'mask') return layer.mask ? Float32Array.from(layer.mask) : new Float32Array(layer.n);
    const a = activity(l);
    if (state.colour === 'passes' && layer.mask) for (let i = 0; i < a.length; i++) a[i] *= layer.mask[i];
    return a;
  }

  // ---- scene geometry ----
  let cx = 0, cy = 0, cz = 0, radiusXY = 1, spanZ = 1;
  (function bounds() {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity, z0 = Infinity, z1 = -Infinity;
    for (const l of layers) {
      for (let i = 0; i < l.n; i++) {
        const x = l.view[3 * i], y = l.view[3 * i + 1], z = l.view[3 * i + 2];
        x0 = Math.min(x0, x); x1 = Math.max(x1, x);
        y0 = Math.min(y0, y); y1 = Math.max(y1, y);
        z0 = Math.min(z0, z); z1 = Math.max(z1, z);
      }
    }
    cx = (x0 + x1) / 2; cy = (y0 + y1) / 2; cz = (z0 + z1) / 2;
    radiusXY = Math.max(x1 - x0, y1 - y0, 1e-6) / 2;
    spanZ = Math.max(z1 - z0, 1e-6);
  })();
  // Layers sit one unit apart while the coordinates spread over ±10: by default the layer axis
  // is stretched so the stack is about 0.8 times as tall as it is wide (the slider scales that, and its
  // readout gives the factor against the true geometry).
  const autoStretch = (1.6 * radiusXY) / spanZ;
  const stretchFactor = () => autoStretch * Math.pow(2, state.stretch);

  const total = layers.reduce((s, l) => s + l.n, 0);
  const world = new Float32Array(3 * total); // centred, stretched
  const offsets = [];
  function buildWorld() {
    const k = stretchFactor();
    offsets.length = 0;
    let o = 0;
    for (const l of layers) {
      offsets.push(o);
      for (let i = 0; i < l.n; i++, o++) {
        world[3 * o] = l.view[3 * i] - cx;
        world[3 * o + 1] = l.view[3 * i + 1] - cy;
        world[3 * o + 2] = (l.view[3 * i + 2] - cz) * k;
      }
    }
  }

  const screen = new Float32Array(2 * total);
  const depthOf = new Float32Array(total);
  let width = 1, height = 1, dpr = 1;
  function project() {
    const radius = Math.hypot(radiusXY * Math.SQRT2, (spanZ * stretchFactor()) / 2);
    const camera = 3 * radius;
    const scale = (state.zoom * Math.min(width, height)) / (2.3 * radius);
    const cyaw = Math.cos(state.yaw), syaw = Math.sin(state.yaw);
    const cp = Math.cos(state.pitch), sp = Math.sin(state.pitch);
    const ox = width / 2 + state.panX * dpr, oy = height / 2 + state.panY * dpr;
    for (let i = 0; i < total; i++) {
      const x = world[3 * i], y = world[3 * i + 1], z = world[3 * i + 2];
      const x1 = x * cyaw - y * syaw;
      const y1 = x * syaw + y * cyaw;
      const up = z * cp - y1 * sp;
      const d = y1 * cp + z * sp;
      const f = camera / (camera + d);
      screen[2 * i] = ox + x1 * f * scale;
      screen[2 * i + 1] = oy - up * f * scale;
      depthOf[i] = d;
    }
  }

  // ---- wires: synthesised from the positions, kept by the CLI's thresholds ----
  const weightCache = new Map();
  function weights(c) {
    // |value| by rank: 1/distance, or |m_i|/distance with the presynaptic mask.
    const key = c + ':' + state.rank;
    if (weightCache.has(key)) return weightCache.get(key);
    const pre = layers[c], post = layers[c + 1];
    const w = new Float32Array(pre.n * post.n);
    const eps = model.distance_epsilon;
    const effective = pruning.ranks[state.rank].rank === 'effective';
    for (let i = 0; i < pre.n; i++) {
      const m = effective ? Math.abs(pre.mask[i]) : 1;
      for (let j = 0; j < post.n; j++) {
        let s = 0;
        for (let k = 0; k < dim; k++) {
          const t = pre.pos[dim * i + k] - post.pos[dim * j + k];
          s += t * t;
        }
        w[i * post.n + j] = m / Math.sqrt(Math.max(s, eps));
      }
    }
    weightCache.set(key, w);
    return w;
  }
  // A fixed random order of each pair's connections: the drawn wires are the first `budget`
  // kept ones in that order, a uniform sample of the kept wires that changes little between
  // levels.
  const orders = [];
  function order(c) {
    if (orders[c]) return orders[c];
    const n = layers[c].n * layers[c + 1].n;
    const o = new Uint32Array(n);
    for (let i = 0; i < n; i++) o[i] = i;
    let s = 0x9e3779b9 ^ (c + 1);
    for (let i = n - 1; i > 0; i--) {
      s ^= s << 13; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
      const j = s % (i + 1);
      const t = o[i]; o[i] = o[j]; o[j] = t;
    }
    orders[c] = o;
    return o;
  }
  let wireList = [];
  function buildWires() {
    wireList = [];
    let drawn = 0, keptShown = 0;
    if (state.budget > 0) {
      const rank = pruning.ranks[state.rank];
      for (let c = 0; c + 1 < depth; c++) {
        const post = layers[c + 1].n;
        const w = weights(c);
        const o = order(c);
        // The CLI's threshold is in f32 from its own kernels; a relative slack of 1e-6 keeps the
        // ties it kept without letting in a wire that is weaker by more than rounding.
        const t = rank.thresholds[state.level][c] * (1 - 1e-6);
        let found = 0;
        for (let k = 0; k < o.length && found < state.budget; k++) {
          const idx = o[k];
          if (w[idx] >= t) {
            const i = (idx / post) | 0, j = idx - i * post;
            wireList.push(c, i, j);
            found++;
          }
        }
        drawn += found;
        keptShown += 1;
      }
    }
    $('wires-drawn').textContent = state.budget > 0
      ? `${drawn.toLocaleString()} wires drawn: a uniform sample of the kept ones, at most ${state.budget.toLocaleString()} per layer pair (red: from an excitatory neuron, blue: inhibitory)`
      : 'no wires drawn';
  }

  // ---- renderers ----
  function makeWebGL(canvas) {
    let gl = null;
    try {
      gl = canvas.getContext('webgl', { preserveDrawingBuffer: true, antialias: true, alpha: false });
    } catch (e) {
      gl = null;
    }
    if (!gl) return null;
    const compile = (type, src) => {
      const s = gl.createShader(type);
      gl.shaderSource(s, src);
      gl.compileShader(s);
      if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
      return s;
    };
    const program = gl.createProgram();
    gl.attachShader(program, compile(gl.VERTEX_SHADER, `
      attribute vec2 a_pos; attribute vec4 a_col; attribute float a_size;
      uniform vec2 u_res; varying vec4 v_col;
      void main() {
        vec2 c = a_pos / u_res * 2.0 - 1.0;
        gl_Position = vec4(c.x, -c.y, 0.0, 1.0);
        gl_PointSize = a_size; v_col = a_col;
      }`));
    gl.attachShader(program, compile(gl.FRAGMENT_SHADER, `
      precision mediump float; varying vec4 v_col; uniform float u_round;
      void main() {
        if (u_round > 0.5) { vec2 p = gl_PointCoord * 2.0 - 1.0; if (dot(p, p) > 1.0) discard; }
        gl_FragColor = v_col;
      }`));
    gl.linkProgram(program);
    if (!gl.getProgramParameter(program, gl.LINK_STATUS)) return null;
    gl.useProgram(program);
    const loc = {
      pos: gl.getAttribLocation(program, 'a_pos'),
      col: gl.getAttribLocation(program, 'a_col'),
      size: gl.getAttribLocation(program, 'a_size'),
      res: gl.getUniformLocation(program, 'u_res'),
      round: gl.getUniformLocation(program, 'u_round'),
    };
    const buf = { pos: gl.createBuffer(), col: gl.createBuffer(), size: gl.createBuffer() };
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);
    const attrib = (b, l, n, arr) => {
      gl.bindBuffer(gl.ARRAY_BUFFER, b);
      gl.bufferData(gl.ARRAY_BUFFER, arr, gl.DYNAMIC_DRAW);
      gl.enableVertexAttribArray(l);
      gl.vertexAttribPointer(l, n, gl.FLOAT, false, 0, 0);
    };
    return {
      name: 'webgl',
      begin() {
        gl.viewport(0, 0, canvas.width, canvas.height);
        gl.clearColor(BG[0] / 255, BG[1] / 255, BG[2] / 255, 1);
        gl.clear(gl.COLOR_BUFFER_BIT);
        gl.uniform2f(loc.res, canvas.width, canvas.height);
      },
      lines(xy, rgba) {
        if (!xy.length) return;
        attrib(buf.pos, loc.pos, 2, xy);
        attrib(buf.col, loc.col, 4, rgba);
        gl.disableVertexAttribArray(loc.size);
        gl.vertexAttrib1f(loc.size, 1);
        gl.uniform1f(loc.round, 0);
        gl.drawArrays(gl.LINES, 0, xy.length / 2);
      },
      points(xy, rgba, sizes) {
        attrib(buf.pos, loc.pos, 2, xy);
        attrib(buf.col, loc.col, 4, rgba);
        attrib(buf.size, loc.size, 1, sizes);
        gl.uniform1f(loc.round, 1);
        gl.drawArrays(gl.POINTS, 0, xy.length / 2);
      },
    };
  }

  function makeCanvas2D(canvas) {
    const g = canvas.getContext('2d');
    const css = (rgba, o) => `rgba(${Math.round(rgba[o] * 255)},${Math.round(rgba[o + 1] * 255)},${Math.round(rgba[o + 2] * 255)},${rgba[o + 3]})`;
    return {
      name: 'canvas2d',
      begin() {
        g.fillStyle = `rgb(${BG.join(',')})`;
        g.fillRect(0, 0, canvas.width, canvas.height);
      },
      lines(xy, rgba) {
        // Wires come in few colours: one path per colour.
        const groups = new Map();
        for (let k = 0; k < xy.length / 4; k++) {
          const key = css(rgba, 8 * k);
          if (!groups.has(key)) groups.set(key, []);
          groups.get(key).push(k);
        }
        g.lineWidth = 1;
        for (const [key, list] of groups) {
          g.strokeStyle = key;
          g.beginPath();
          for (const k of list) {
            g.moveTo(xy[4 * k], xy[4 * k + 1]);
            g.lineTo(xy[4 * k + 2], xy[4 * k + 3]);
          }
          g.stroke();
        }
      },
      points(xy, rgba, sizes) {
        for (let k = 0; k < xy.length / 2; k++) {
          g.fillStyle = css(rgba, 4 * k);
          g.beginPath();
          g.arc(xy[2 * k], xy[2 * k + 1], sizes[k] / 2, 0, 2 * Math.PI);
          g.fill();
        }
      },
    };
  }

  const view = $('view');
  const overlay = $('overlay');
  const og = overlay.getContext('2d');
  const params = new URLSearchParams(location.search);
  const renderer = (params.get('renderer') !== 'canvas2d' && makeWebGL(view)) || makeCanvas2D(view);

  // ---- drawing ----
  let neuronOrder = new Uint32Array(total);
  let dirty = true;
  function draw() {
    dirty = false;
    project();
    renderer.begin();
    // wires
    const n = wireList.length / 3;
    const lxy = new Float32Array(4 * n), lrgba = new Float32Array(8 * n);
    const alpha = state.budget > 1000 ? 0.08 : 0.16;
    for (let k = 0; k < n; k++) {
      const c = wireList[3 * k], i = wireList[3 * k + 1], j = wireList[3 * k + 2];
      const a = offsets[c] + i, b = offsets[c + 1] + j;
      lxy[4 * k] = screen[2 * a]; lxy[4 * k + 1] = screen[2 * a + 1];
      lxy[4 * k + 2] = screen[2 * b]; lxy[4 * k + 3] = screen[2 * b + 1];
      const m = layers[c].mask ? layers[c].mask[i] : 1;
      const col = m < 0 ? NEG : POS;
      for (const o of [8 * k, 8 * k + 4]) {
        lrgba[o] = col[0] / 255; lrgba[o + 1] = col[1] / 255; lrgba[o + 2] = col[2] / 255; lrgba[o + 3] = alpha;
      }
    }
    renderer.lines(lxy, lrgba);
    // neurons, far to near
    for (let i = 0; i < total; i++) neuronOrder[i] = i;
    neuronOrder.sort((a, b) => depthOf[b] - depthOf[a]);
    const colours = new Float32Array(4 * total);
    const sizes = new Float32Array(total);
    for (let l = 0; l < depth; l++) {
      const v = shown(l);
      let s = 0;
      for (let i = 0; i < v.length; i++) s = Math.max(s, Math.abs(v[i]));
      const base = (l === depth - 1 ? 9 : 5) * dpr;
      for (let i = 0; i < v.length; i++) {
        const o = offsets[l] + i;
        diverging(s > 0 ? v[i] / s : 0, colours, 4 * o);
        sizes[o] = base;
      }
    }
    const pxy = new Float32Array(2 * total), prgba = new Float32Array(4 * total), psize = new Float32Array(total);
    for (let k = 0; k < total; k++) {
      const i = neuronOrder[k];
      pxy[2 * k] = screen[2 * i]; pxy[2 * k + 1] = screen[2 * i + 1];
      prgba.set(colours.subarray(4 * i, 4 * i + 4), 4 * k);
      psize[k] = sizes[i];
    }
    renderer.points(pxy, prgba, psize);
    drawOverlay();
    document.body.dataset.frames = String(Number(document.body.dataset.frames || 0) + 1);
  }

  function predictedNow() {
    return pruning.ranks[state.rank].predicted[state.level][state.input];
  }

  function drawOverlay() {
    og.clearRect(0, 0, overlay.width, overlay.height);
    const out = depth - 1;
    const predicted = predictedNow();
    og.font = `${12 * dpr}px system-ui, sans-serif`;
    og.textBaseline = 'middle';
    for (let j = 0; j < layers[out].n; j++) {
      const o = offsets[out] + j;
      const x = screen[2 * o], y = screen[2 * o + 1];
      og.lineWidth = (j === predicted ? 3 : 1) * dpr;
      og.strokeStyle = j === predicted ? '#e6a100' : '#333';
      og.beginPath();
      og.arc(x, y, (j === predicted ? 10 : 6) * dpr, 0, 2 * Math.PI);
      og.stroke();
      og.fillStyle = j === predicted ? '#000' : '#444';
      og.font = `${(j === predicted ? 'bold ' : '') + 12 * dpr}px system-ui, sans-serif`;
      og.fillText(String(j), x + 12 * dpr, y);
    }
    // layer names beside the first neuron of each layer's highest point
    og.font = `${11 * dpr}px system-ui, sans-serif`;
    og.fillStyle = '#555';
    for (let l = 0; l < depth; l++) {
      let best = -1, by = Infinity;
      for (let i = 0; i < layers[l].n; i++) {
        const y = screen[2 * (offsets[l] + i) + 1];
        if (y < by) { by = y; best = i; }
      }
      if (best >= 0 && l !== depth - 1) {
        const o = offsets[l] + best;
        og.fillText(`${layers[l].name} (${layers[l].n})`, screen[2 * o] + 8 * dpr, by - 8 * dpr);
      }
    }
    if (hover) {
      const o = offsets[hover.l] + hover.i;
      og.strokeStyle = '#000';
      og.lineWidth = 2 * dpr;
      og.beginPath();
      og.arc(screen[2 * o], screen[2 * o + 1], 7 * dpr, 0, 2 * Math.PI);
      og.stroke();
    }
  }

  function schedule() {
    if (!dirty) {
      dirty = true;
      requestAnimationFrame(draw);
    }
  }

  let fitted = false;
  function resize() {
    dpr = window.devicePixelRatio || 1;
    const r = view.getBoundingClientRect();
    width = Math.max(1, Math.round(r.width * dpr));
    height = Math.max(1, Math.round(r.height * dpr));
    for (const c of [view, overlay]) { c.width = width; c.height = height; }
    if (!fitted) { fit(); fitted = true; }
    dirty = false;
    draw();
  }

  // ---- side panel ----
  function fmt(x, d = 3) { return Number(x).toFixed(d); }
  function updatePanel() {
    const rank = pruning.ranks[state.rank];
    const level = pruning.levels[state.level];
    $('prune-level').textContent = pruning.stored_percent > 0
      ? `${level} (${pruning.stored_percent} stored in the checkpoint, ${+(level - pruning.stored_percent).toFixed(4)} further)`
      : String(level);
    $('prune-accuracy').textContent = rank.accuracy[state.level].toFixed(4);
    $('accuracy-note').textContent = `(${pruning.test_images.toLocaleString()} test images, ${rank.rank} ranking, as neuropos eval)`;
    $('kept').textContent = `${rank.kept[state.level].toLocaleString()} of ${rank.total.toLocaleString()} connections`;
    const idx = inputs.test_index[state.input];
    $('input-name').textContent = idx === null
      ? `average of the ${inputs.averaged[state.input].toLocaleString()} test images of ${inputs.labels[state.input]}`
      : `test image #${idx}`;
    $('true-label').textContent = String(inputs.labels[state.input]);
    $('predicted').textContent = String(predictedNow());
    const base = pruning.stored_percent || 0;
    const unpruned = rank.predicted[pruning.levels.indexOf(base)];
    $('predicted-note').textContent = level > base && unpruned
      ? `at ${level} % pruned (${unpruned[state.input]} at ${base} %)`
      : `at ${level} % pruned`;
    for (const b of document.querySelectorAll('#digits button')) {
      b.classList.toggle('active', Number(b.dataset.input) === state.input);
    }
    drawPreview();
    drawChart();
  }

  function drawPreview() {
    const c = $('digit-preview').getContext('2d');
    const img = c.createImageData(28, 28);
    const base = state.input * 784;
    for (let i = 0; i < 784; i++) {
      const v = pixels[base + i];
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
      img.data[4 * i + 3] = 255;
    }
    c.putImageData(img, 0, 0);
  }

  function drawChart() {
    const c = $('accuracy-chart');
    const g = c.getContext('2d');
    const w = c.width, h = c.height, left = 30, bottom = 16;
    g.clearRect(0, 0, w, h);
    g.font = '10px system-ui, sans-serif';
    g.fillStyle = '#666';
    g.strokeStyle = '#ccc';
    g.strokeRect(left, 2, w - left - 4, h - bottom - 2);
    g.fillText('1.0', 4, 8);
    g.fillText('0.0', 4, h - bottom);
    g.fillText('pruned %', w - 50, h - 3);
    const px = (p) => left + ((w - left - 4) * p) / 100;
    const py = (a) => 2 + (h - bottom - 2) * (1 - a);
    pruning.ranks.forEach((r, k) => {
      g.strokeStyle = k === 0 ? '#2166ac' : '#b2182b';
      g.lineWidth = k === state.rank ? 2 : 1;
      g.beginPath();
      pruning.levels.forEach((p, i) => (i ? g.lineTo(px(p), py(r.accuracy[i])) : g.moveTo(px(p), py(r.accuracy[i]))));
      g.stroke();
    });
    const x = px(pruning.levels[state.level]);
    g.strokeStyle = '#000';
    g.lineWidth = 1;
    g.beginPath(); g.moveTo(x, 2); g.lineTo(x, h - bottom); g.stroke();
    g.fillStyle = '#2166ac'; g.fillText('distance', left + 4, h - bottom - 16);
    g.fillStyle = '#b2182b'; g.fillText('effective', left + 4, h - bottom - 4);
  }

  function setInput(k) {
    state.input = k;
    updatePanel();
    schedule();
  }

  // Controls
  const digits = $('digits');
  for (let d = 0; d < 10; d++) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = String(d);
    b.dataset.input = String(d);
    b.title = `average test image of ${d}`;
    b.addEventListener('click', () => setInput(d));
    digits.appendChild(b);
  }
  const singles = inputs.count - 10;
  const indexBox = $('image-index');
  indexBox.max = String(Math.max(0, singles - 1));
  if (singles === 0) {
    indexBox.disabled = true;
    $('show-image').disabled = true;
  }
  const showImage = () => {
    const i = Math.round(Number(indexBox.value));
    if (!(i >= 0 && i < singles)) {
      indexBox.setCustomValidity(`this page holds test images 0 to ${singles - 1} (neuropos viz --images N)`);
      indexBox.reportValidity();
      return;
    }
    indexBox.setCustomValidity('');
    setInput(10 + i);
  };
  $('show-image').addEventListener('click', showImage);
  indexBox.addEventListener('keydown', (e) => { if (e.key === 'Enter') showImage(); });

  const rankBox = $('rank');
  pruning.ranks.forEach((r, k) => {
    const o = document.createElement('option');
    o.value = String(k);
    o.textContent = r.rank === 'distance' ? 'distance (the paper: longest wires first)' : 'effective |m·w| (mask-aware)';
    rankBox.appendChild(o);
  });
  rankBox.addEventListener('change', () => { state.rank = Number(rankBox.value); buildWires(); updatePanel(); schedule(); });

  const slider = $('prune-slider');
  slider.max = String(pruning.levels.length - 1);
  slider.addEventListener('input', () => { state.level = Number(slider.value); buildWires(); updatePanel(); schedule(); });

  $('wire-budget').addEventListener('change', (e) => { state.budget = Number(e.target.value); buildWires(); schedule(); });
  $('colour').addEventListener('change', (e) => { state.colour = e.target.value; schedule(); });
  const stretch = $('stretch');
  const showStretch = () => { $('stretch-value').textContent = `×${stretchFactor().toFixed(1)}`; };
  stretch.addEventListener('input', () => {
    state.stretch = Number(stretch.value);
    buildWorld();
    showStretch();
    schedule();
  });
  // The default view: the scene's projected extent fitted to 92 % of the canvas.
  function fit() {
    Object.assign(state, { yaw: -0.6, pitch: 0.35, zoom: 1, panX: 0, panY: 0 });
    project();
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < total; i++) {
      x0 = Math.min(x0, screen[2 * i]); x1 = Math.max(x1, screen[2 * i]);
      y0 = Math.min(y0, screen[2 * i + 1]); y1 = Math.max(y1, screen[2 * i + 1]);
    }
    // Perspective makes the fit depend on the zoom only through a uniform scale about the
    // centre, so one step is exact.
    const z = 0.92 * Math.min(width / Math.max(x1 - x0, 1), height / Math.max(y1 - y0, 1));
    state.zoom = z;
    state.panX = (-((x0 + x1) / 2 - width / 2) * z) / dpr;
    state.panY = (-((y0 + y1) / 2 - height / 2) * z) / dpr;
  }
  function resetView() {
    fit();
    schedule();
  }
  $('reset-view').addEventListener('click', resetView);

  // Orbit, pan, zoom, hover.
  let drag = null;
  let hover = null;
  overlay.addEventListener('contextmenu', (e) => e.preventDefault());
  overlay.addEventListener('pointerdown', (e) => {
    drag = { x: e.clientX, y: e.clientY, pan: e.shiftKey || e.button === 2 };
    overlay.setPointerCapture(e.pointerId);
    overlay.classList.add('dragging');
  });
  overlay.addEventListener('pointerup', (e) => {
    drag = null;
    overlay.releasePointerCapture(e.pointerId);
    overlay.classList.remove('dragging');
  });
  overlay.addEventListener('pointermove', (e) => {
    if (drag) {
      const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      drag.x = e.clientX; drag.y = e.clientY;
      if (drag.pan) { state.panX += dx; state.panY += dy; } else {
        state.yaw += dx * 0.008;
        state.pitch = Math.max(-1.5, Math.min(1.5, state.pitch + dy * 0.008));
      }
      $('tooltip').hidden = true;
      hover = null;
      schedule();
      return;
    }
    pick(e);
  });
  overlay.addEventListener('pointerleave', () => { hover = null; $('tooltip').hidden = true; schedule(); });
  overlay.addEventListener('wheel', (e) => {
    e.preventDefault();
    state.zoom = Math.max(0.2, Math.min(20, state.zoom * Math.exp(-e.deltaY * 0.001)));
    schedule();
  }, { passive: false });
  overlay.addEventListener('dblclick', resetView);

  function pick(e) {
    const r = overlay.getBoundingClientRect();
    const x = (e.clientX - r.left) * dpr, y = (e.clientY - r.top) * dpr;
    let best = -1, bd = (8 * dpr) ** 2, bz = Infinity;
    for (let i = 0; i < total; i++) {
      const d = (screen[2 * i] - x) ** 2 + (screen[2 * i + 1] - y) ** 2;
      if (d < bd || (d === bd && depthOf[i] < bz)) { bd = d; best = i; bz = depthOf[i]; }
    }
    const tip = $('tooltip');
    if (best < 0) { hover = null; tip.hidden = true; schedule(); return; }
    let l = 0;
    while (l + 1 < depth && offsets[l + 1] <= best) l++;
    const i = best - offsets[l];
    hover = { l, i };
    const layer = layers[l];
    const p = Array.from(layer.pos.subarray(dim * i, dim * i + dim), (v) => fmt(v)).join(', ');
    const a = activity(l)[i];
    const lines = [
      `${layer.name}, neuron #${i}`,
      `position (${p})  [layer axis last]`,
      layer.mask ? `inhibition mask m = ${fmt(layer.mask[i])} (${layer.mask[i] < 0 ? 'inhibitory' : 'excitatory'})` : 'inhibition mask: none (sends no synapses)',
      layer.bias ? `bias b = ${fmt(layer.bias[i])}` : 'bias: none (input)',
      `${l === 0 ? 'pixel' : model.spiking ? 'spike count' : l === depth - 1 ? 'logit' : 'activation'} = ${fmt(a)}`,
    ];
    tip.textContent = lines.join('\n');
    tip.hidden = false;
    tip.style.left = `${e.clientX - r.left + 14}px`;
    tip.style.top = `${e.clientY - r.top + 14}px`;
    schedule();
  }

  // ---- start ----
  $('model').textContent = `${model.describe}: ${model.params.toLocaleString()} parameters, d = ${dim}${data.projection === 'pca' ? ' (free coordinates drawn on their first two principal components)' : ''}; ${model.checkpoint}`;
  $('renderer').textContent = renderer.name === 'webgl' ? 'drawn with WebGL' : 'drawn with a 2-D canvas (WebGL unavailable)';
  buildWorld();
  showStretch();
  buildWires();
  updatePanel();
  window.addEventListener('resize', resize);
  resize();

  // For tests and scripts: what was drawn, read back from the page's own canvases.
  window.neuroposViewer = {
    renderer: renderer.name,
    state,
    layers: depth,
    // How many neurons are drawn outside the canvas (the default view must show them all).
    outside() {
      let n = 0;
      for (let i = 0; i < total; i++) {
        if (!(screen[2 * i] >= 0 && screen[2 * i] < width && screen[2 * i + 1] >= 0 && screen[2 * i + 1] < height)) n++;
      }
      return n;
    },
    // Where neuron i of layer l is drawn, in CSS pixels of the page.
    screenOf(l, i) {
      const r = overlay.getBoundingClientRect();
      const o = offsets[l] + i;
      return { x: r.left + screen[2 * o] / dpr, y: r.top + screen[2 * o + 1] / dpr };
    },
    paintedPixels() {
      const c = document.createElement('canvas');
      c.width = view.width; c.height = view.height;
      const g = c.getContext('2d');
      g.drawImage(view, 0, 0);
      g.drawImage(overlay, 0, 0);
      const px = g.getImageData(0, 0, c.width, c.height).data;
      let painted = 0;
      for (let k = 0; k < px.length; k += 4) {
        if (Math.abs(px[k] - BG[0]) + Math.abs(px[k + 1] - BG[1]) + Math.abs(px[k + 2] - BG[2]) > 24) painted++;
      }
      return { painted, total: px.length / 4 };
    },
  };
  document.body.dataset.ready = '1';
})();
