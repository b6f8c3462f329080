// connectorkit studio: every action's form, built from `describe`'s JSON Schema alone, and run.
// Plain script, no framework: the catalog uses a small part of JSON Schema, listed here, and a
// test checks that `describe` emits no keyword outside this list.
"use strict";

const KNOWN_KEYWORDS = [
  "type", "title", "description", "default", "enum", "minimum", "maximum", "minLength",
  "maxLength", "minItems", "maxItems", "pattern", "items", "properties", "required",
  "additionalProperties", "oneOf", "format", "writeOnly", "examples", "x-group", "x-type",
  "allOf", "if", "else", "x-importance", "x-choices", "x-dynamic-schema",
];

const POLL_RUN_MS = 150;
const POLL_PACK_MS = 1500;
const SHOWN_TEXT = 60000;  // longer texts are cut on screen; Copy still copies all of them

const state = {
  catalog: null, version: "", stored: "", presets: [], action: null, form: null, connForms: {},
  running: null, filter: "", subscriptions: {},
};

// ---------------------------------------------------------------- small DOM helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Descriptions are short Markdown: `code` and *emphasis* are all they use.
function prose(text) {
  const out = document.createDocumentFragment();
  const parts = String(text || "").split(/(`[^`]+`|\*[^*]+\*)/);
  for (const part of parts) {
    if (part.startsWith("`") && part.endsWith("`") && part.length > 1) out.append(h("code", {text: part.slice(1, -1)}));
    else if (part.startsWith("*") && part.endsWith("*") && part.length > 1) out.append(h("em", {text: part.slice(1, -1)}));
    else out.append(part);
  }
  return out;
}

function pretty(value) { return JSON.stringify(value, null, 2); }

function deepEqual(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

function clip(text) {
  return text.length > SHOWN_TEXT
    ? `${text.slice(0, SHOWN_TEXT)}\n… (${text.length.toLocaleString()} characters; Copy takes them all)`
    : text;
}

async function getJson(url, options) {
  const response = await fetch(url, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// ---------------------------------------------------------------- validation

function typeOf(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function typeMatches(value, type) {
  const actual = typeOf(value);
  return actual === type || (type === "number" && actual === "integer");
}

const TYPE_WORDS = {
  string: "text", integer: "a whole number", number: "a number", boolean: "true or false",
  array: "a list", object: "an object",
};

// Errors of `value` against `schema`, as [{field, message}] with the runtime's field paths.
function validate(value, schema, path, errors) {
  if (value && value.invalidJson) {
    errors.push({field: path, message: `is not valid JSON: ${value.invalidJson}`});
    return errors;
  }
  if (schema.oneOf) {
    const matching = schema.oneOf.filter((option) => validate(value, option, path, []).length === 0);
    if (matching.length !== 1) {
      const forms = schema["x-type"] === "key_value"
        ? 'an object or a list of {"key": …, "value": …} pairs' : "one of the allowed forms";
      errors.push({field: path, message: `must be ${forms}`});
    }
    return errors;
  }
  if (schema.type && !typeMatches(value, schema.type)) {
    errors.push({field: path, message: `should be ${TYPE_WORDS[schema.type] || schema.type}`});
    return errors;
  }
  if (schema.enum && !schema.enum.some((choice) => deepEqual(choice, value))) {
    errors.push({field: path, message: `should be one of ${schema.enum.map((c) => JSON.stringify(c)).join(", ")}`});
  }
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push({field: path, message: `should be at least ${schema.minimum}`});
    if (schema.maximum !== undefined && value > schema.maximum) errors.push({field: path, message: `should be at most ${schema.maximum}`});
  }
  if (typeof value === "string") {
    const length = [...value].length;
    if (schema.minLength !== undefined && length < schema.minLength) {
      errors.push({field: path, message: schema.minLength === 1 ? "should not be empty" : `should have at least ${schema.minLength} characters`});
    }
    if (schema.maxLength !== undefined && length > schema.maxLength) errors.push({field: path, message: `should have at most ${schema.maxLength} characters`});
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, "u").test(value)) errors.push({field: path, message: `should match ${schema.pattern}`});
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) errors.push({field: path, message: `should have at least ${schema.minItems} item${schema.minItems === 1 ? "" : "s"}`});
    if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push({field: path, message: `should have at most ${schema.maxItems} items`});
    if (schema.items) value.forEach((item, i) => validate(item, schema.items, `${path}[${i}]`, errors));
  }
  if (typeOf(value) === "object") {
    const properties = schema.properties || {};
    const join = (key) => (path ? `${path}.${key}` : key);
    for (const key of schema.required || []) {
      if (value[key] === undefined) errors.push({field: join(key), message: "is required"});
    }
    // A value that only fills defaults: required unless every value it fills is given.
    for (const rule of schema.allOf || []) {
      const given = (rule.if?.required || []).every((key) => value[key] !== undefined);
      for (const key of given ? [] : rule.else?.required || []) {
        if (value[key] === undefined) errors.push({field: join(key), message: `is required (or give ${rule.if.required.join(", ")})`});
      }
    }
    for (const [key, item] of Object.entries(value)) {
      if (properties[key]) validate(item, properties[key], join(key), errors);
      else if (schema.additionalProperties === false) errors.push({field: join(key), message: "is not allowed here"});
      else if (typeof schema.additionalProperties === "object") validate(item, schema.additionalProperties, join(key), errors);
    }
  }
  return errors;
}

// ---------------------------------------------------------------- editors
// An editor renders one schema as controls: {el, get() → value or undefined, set(value)}.
// Every control that can be wrong carries data-path, so an error finds its place.

function isObjectArray(schema) {
  return schema.type === "array" && schema.items && schema.items.type === "object" && schema.items.properties;
}

function isSecret(schema) { return schema.writeOnly === true || schema.format === "password"; }

function rangeHint(schema) {
  const low = schema.minimum, high = schema.maximum;
  if (low !== undefined && high !== undefined) return `${low}–${high}`;
  if (low !== undefined) return `≥ ${low}`;
  if (high !== undefined) return `≤ ${high}`;
  return null;
}

function scalarEditor(path, schema) {
  let control;
  if (schema.enum) {
    control = h("select", {"data-path": path},
      h("option", {value: "", text: "—"}),
      schema.enum.map((choice) => h("option", {value: JSON.stringify(choice), text: String(choice)})));
  } else if (schema.type === "boolean") {
    control = h("input", {type: "checkbox", "data-path": path});
  } else if (schema.type === "integer" || schema.type === "number") {
    control = h("input", {type: "number", "data-path": path, step: schema.type === "integer" ? "1" : "any",
      min: schema.minimum, max: schema.maximum});
  } else if (schema.format === "multiline") {
    control = h("textarea", {"data-path": path, rows: 3});
  } else {
    control = h("input", {type: isSecret(schema) ? "password" : "text", "data-path": path,
      autocomplete: isSecret(schema) ? "new-password" : "off", spellcheck: false,
      placeholder: schema.examples ? String(schema.examples[0]) : (schema.format === "uuid" ? "00000000-0000-0000-0000-000000000000" : null)});
  }
  const editor = {
    el: control,
    get() {
      if (schema.enum) return control.value === "" ? undefined : JSON.parse(control.value);
      if (schema.type === "boolean") return control.checked;
      if (schema.type === "integer" || schema.type === "number") {
        if (control.value === "") return control.validity.badInput ? "not a number" : undefined;
        return Number(control.value);
      }
      return control.value === "" ? undefined : control.value;
    },
    set(value) {
      if (schema.enum) control.value = value === undefined ? "" : JSON.stringify(value);
      else if (schema.type === "boolean") control.checked = Boolean(value);
      else control.value = value === undefined || value === null ? "" : String(value);
    },
  };
  return editor;
}

function jsonEditor(path, schema) {
  const area = h("textarea", {"data-path": path, rows: 5, spellcheck: false,
    placeholder: schema.examples ? JSON.stringify(schema.examples[0]) : "JSON"});
  const name = h("span", {class: "file-name"});
  const picker = h("input", {type: "file", accept: ".json,application/json", hidden: true, onchange: async () => {
    const file = picker.files[0];
    if (!file) return;
    area.value = await file.text();
    name.textContent = `${file.name}, ${file.size.toLocaleString()} bytes`;
  }});
  const el = h("div", {}, area, h("div", {class: "row-actions"},
    h("button", {type: "button", class: "link", text: "Load a JSON file…", onclick: () => picker.click()}), picker, name));
  return {
    el,
    get() {
      const text = area.value.trim();
      if (!text) return undefined;
      try { return JSON.parse(text); } catch (error) { return {invalidJson: error.message}; }
    },
    set(value) { area.value = value === undefined ? "" : pretty(value); },
  };
}

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ""));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

// A key/value list: pairs of text boxes, or a key and a file (sent as base64) when the schema
// says its values are base64.
function pairsEditor(path, schema) {
  const files = schema.format === "base64" || schema.contentEncoding === "base64";
  const body = h("tbody");
  const table = h("table", {class: "rows"}, h("thead", {}, h("tr", {},
    h("th", {text: "Key"}), h("th", {text: files ? "File (sent as base64)" : "Value"}), h("th"))), body);
  const renumber = () => [...body.rows].forEach((row, i) => {
    row.querySelector(".k").dataset.path = `${path}[${i}].key`;
    row.querySelector(".v").dataset.path = `${path}[${i}].value`;
  });
  const add = (pair) => {
    const key = h("input", {type: "text", class: "k", value: pair ? pair.key : "", spellcheck: false});
    let value;
    if (files) {
      const name = h("span", {class: "file-name"});
      value = h("input", {type: "file", class: "v", onchange: async () => {
        const file = value.files[0];
        value.dataset.base64 = file ? await readBase64(file) : "";
        name.textContent = file ? `${file.size.toLocaleString()} bytes` : "";
      }});
      if (pair) value.dataset.base64 = pair.value;
      value = h("span", {class: "inline"}, value, name);
    } else {
      value = h("input", {type: "text", class: "v", value: pair ? pair.value : "", spellcheck: false});
    }
    body.append(h("tr", {}, h("td", {}, key), h("td", {}, value),
      h("td", {}, h("button", {type: "button", class: "remove", title: "Remove", text: "✕",
        onclick: (event) => { event.target.closest("tr").remove(); renumber(); }}))));
    renumber();
  };
  const el = h("div", {"data-path": path}, table,
    h("button", {type: "button", class: "link", text: "+ Add a pair", onclick: () => add()}));
  return {
    el,
    get() {
      const pairs = [...body.rows].map((row) => {
        const v = row.querySelector(".v");
        return {key: row.querySelector(".k").value, value: files ? (v.dataset.base64 || "") : v.value};
      }).filter((pair) => pair.key !== "" || pair.value !== "");
      return pairs.length ? pairs : undefined;
    },
    set(value) {
      body.replaceChildren();
      const pairs = Array.isArray(value) ? value : Object.entries(value || {}).map(([key, v]) => ({key, value: v}));
      pairs.forEach(add);
    },
  };
}

// An array of objects with known properties (e.g. columns): one table row per item. The
// required properties are columns at once; the optional ones appear on request.
function rowsEditor(path, schema, options) {
  const item = schema.items;
  const required = new Set(item.required || []);
  const keys = Object.keys(item.properties);
  const optional = keys.filter((k) => !required.has(k));
  // A table's columns from the service are what the designer came for: all shown at once.
  let showAll = Boolean(options && options.showAll);
  const head = h("tr");
  const body = h("tbody");
  const rows = [];  // [{tr, editors: {key: editor}}]
  const shown = () => keys.filter((k) => required.has(k) || showAll);
  const renderHead = () => {
    head.replaceChildren(h("th"), ...shown().map((k) => h("th", {title: item.properties[k].description || ""},
      item.properties[k].title || k, required.has(k) ? h("span", {class: "req", text: "*"}) : null)), h("th"));
  };
  const renderRow = (row, i) => {
    row.tr.replaceChildren(h("td", {class: "num", text: String(i + 1)}),
      ...shown().map((k) => {
        row.editors[k].el.dataset.path = `${path}[${i}].${k}`;
        return h("td", {}, row.editors[k].el);
      }),
      h("td", {}, h("button", {type: "button", class: "remove", title: "Remove this row", text: "✕",
        onclick: () => { rows.splice(rows.indexOf(row), 1); row.tr.remove(); rows.forEach(renderRow); }})));
  };
  const add = (value) => {
    const editors = {};
    for (const k of keys) {
      editors[k] = scalarEditor(`${path}[${rows.length}].${k}`, item.properties[k]);
      if (value && value[k] !== undefined) editors[k].set(value[k]);
      else if (item.properties[k].default !== undefined) editors[k].set(item.properties[k].default);
    }
    const row = {tr: h("tr"), editors};
    rows.push(row);
    body.append(row.tr);
    renderRow(row, rows.length - 1);
  };
  renderHead();
  const toggle = optional.length && !showAll ? h("button", {type: "button", class: "link",
    text: `Show optional fields (${optional.length})`, onclick: () => {
      showAll = !showAll;
      toggle.textContent = showAll ? "Hide optional fields" : `Show optional fields (${optional.length})`;
      renderHead(); rows.forEach(renderRow);
    }}) : null;
  const el = h("div", {"data-path": path}, h("table", {class: "rows"}, h("thead", {}, head), body),
    h("div", {class: "row-actions"}, h("button", {type: "button", text: "+ Add a row", onclick: () => add()}), toggle));
  return {
    el,
    get() {
      const items = rows.map((row) => {
        const out = {};
        for (const k of keys) {
          const v = row.editors[k].get();
          if (v !== undefined && !(v === false && item.properties[k].type === "boolean" && item.properties[k].default === undefined)) out[k] = v;
        }
        return out;
      });
      return items.length ? items : undefined;
    },
    set(value) {
      rows.splice(0).forEach((row) => row.tr.remove());
      (Array.isArray(value) ? value : []).forEach(add);
    },
  };
}

function editorFor(path, schema, ctx) {
  if (ctx && schema["x-choices"] && !schema.enum) return choiceEditor(path, schema, ctx);
  if (ctx && schema["x-dynamic-schema"]) return dynamicEditor(path, schema, ctx);
  if (schema["x-type"] === "key_value") return pairsEditor(path, schema);
  if (isObjectArray(schema)) return rowsEditor(path, schema);
  if (schema.type === "array" || schema.type === "object" || !schema.type) return jsonEditor(path, schema);
  return scalarEditor(path, schema);
}

// ---------------------------------------------------------------- values from the service
// An input with x-choices picks its value from what the service lists, through the chosen
// connection; one with x-dynamic-schema (the rows of a table) takes its shape from the service.

const SEARCH_PAUSE_MS = 300;

// The form's values that the service's answer depends on (only those: a half-typed field
// elsewhere must not spoil the request).
function dependencies(spec, ctx, own) {
  const values = ctx.values();
  const out = {};
  for (const key of spec.depends_on || []) if (key !== own && values[key] !== undefined) out[key] = values[key];
  return out;
}

async function askService(ctx, input, inputs, extra) {
  const {connection} = chosenConnection();
  return getJson("/api/choices", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({action: ctx.action, input, inputs, connection, ...extra})});
}

function choiceEditor(path, schema, ctx) {
  const spec = schema["x-choices"];
  const key = path.slice(path.lastIndexOf(".") + 1);
  const input = h("input", {type: "text", "data-path": path, autocomplete: "off", spellcheck: false,
    placeholder: "Pick from the service, or type a value"});
  const chosen = h("span", {class: "choice-label"});
  const search = h("input", {type: "search", class: "choice-search", autocomplete: "off",
    placeholder: spec.search ? "Search (the service finds them)" : "Filter the list", "aria-label": `Search ${schema.title || key}`});
  const list = h("div", {class: "choice-list", role: "listbox"});
  const note = h("div", {class: "choice-note"});
  const again = h("button", {type: "button", class: "link choice-refresh", title: "Ask the service again (answers are kept a minute)",
    text: "↻ Refresh", onclick: () => load(false, true)});
  const panel = h("div", {class: "choice-panel", hidden: true}, h("div", {class: "choice-top"}, search, again), note, list);
  let shown = [];          // the choices listed now
  let continuation = null;
  let labels = new Map();  // value → label, of every choice seen for the current parents
  let asked = 0;           // answers to requests superseded by a newer one are dropped
  const showLabel = () => { chosen.textContent = labels.get(input.value) || ""; };
  const pick = (choice) => {
    input.value = typeof choice.value === "string" ? choice.value : JSON.stringify(choice.value);
    labels.set(input.value, choice.label);
    showLabel();
    panel.hidden = true;
    input.dispatchEvent(new Event("change", {bubbles: true}));
  };
  const render = () => {
    const word = spec.search ? "" : search.value.trim().toLowerCase();
    const hits = shown.filter((c) => !word || `${c.label} ${c.value}`.toLowerCase().includes(word));
    list.replaceChildren(...hits.map((c) => h("div", {class: `choice${String(c.value) === input.value ? " picked" : ""}`,
      role: "option", "data-value": String(c.value), onclick: () => pick(c)},
      h("span", {class: "choice-text", text: c.label}),
      c.label !== String(c.value) ? h("span", {class: "choice-value", text: String(c.value)}) : null)));
    if (continuation) {
      list.append(h("button", {type: "button", class: "link choice-more", text: "More…", onclick: () => load(true)}));
    }
    note.textContent = hits.length ? "" : (shown.length ? "Nothing matches." : "The service lists nothing here.");
  };
  const load = async (more, fresh) => {
    const mine = ++asked;
    note.textContent = "Asking the service…";
    const extra = fresh ? {refresh: true} : {};
    if (spec.search && search.value.trim()) extra.search = search.value.trim();
    if (more && continuation) extra.continuation = continuation;
    try {
      const answer = await askService(ctx, key, dependencies(spec, ctx, key), extra);
      if (mine !== asked) return;
      if (!answer.ok) {
        shown = []; continuation = null; list.replaceChildren();
        note.textContent = answer.error.message;
        return;
      }
      const found = answer.result.choices || [];
      shown = more ? [...shown, ...found] : found;
      continuation = answer.result.continuation || null;
      for (const c of found) labels.set(typeof c.value === "string" ? c.value : JSON.stringify(c.value), c.label);
      showLabel();
      render();
    } catch (error) {
      if (mine === asked) note.textContent = `Could not ask the service: ${error.message}`;
    }
  };
  let pause = null;
  search.addEventListener("input", () => {
    if (!spec.search) { render(); return; }
    clearTimeout(pause);
    pause = setTimeout(() => load(false), SEARCH_PAUSE_MS);
  });
  input.addEventListener("input", showLabel);
  const open = h("button", {type: "button", class: "choice-open", title: "Pick from what the service lists",
    text: "Pick…", onclick: () => {
      panel.hidden = !panel.hidden;
      if (!panel.hidden) { search.focus(); load(false); }
    }});
  const el = h("div", {class: "choice-field", "data-choices": key}, h("div", {class: "choice-row"}, input, open, chosen), panel);
  return {
    el,
    get() { return input.value === "" ? undefined : input.value; },
    set(value) { input.value = value === undefined || value === null ? "" : String(value); showLabel(); },
    // A parent changed (another workspace): what was listed belongs to the old one, and so does
    // a value picked from it (a value typed by hand stays: the designer meant it).
    parentChanged() {
      asked++;
      const picked = labels.has(input.value);
      shown = []; continuation = null; labels = new Map();
      list.replaceChildren(); note.textContent = "";
      if (picked && input.value !== "") {
        input.value = "";
        input.dispatchEvent(new Event("change", {bubbles: true}));
      }
      showLabel();
      if (!panel.hidden) load(false);
    },
  };
}

// An input whose shape the service gives: JSON until its parents are chosen, then a rows editor
// with the columns the service names (each with its type). JSON stays one click away, and a
// file loaded there (thousands of rows) is sent from there.
const MAX_ROWS_SHOWN = 500;

function dynamicEditor(path, schema, ctx) {
  const spec = schema["x-dynamic-schema"];
  const key = path.slice(path.lastIndexOf(".") + 1);
  const plain = {...schema};
  delete plain["x-dynamic-schema"];
  const json = jsonEditor(path, plain);
  let rows = null;
  let mode = "json";
  const rowsHolder = h("div", {class: "dynamic-holder", hidden: true});
  const jsonHolder = h("div", {}, json.el);
  const note = h("div", {class: "schema-note help"});
  const toggle = h("button", {type: "button", class: "link dynamic-toggle", hidden: true,
    onclick: () => switchTo(mode === "rows" ? "json" : "rows")});
  const switchTo = (next) => {
    if (next === "rows" && !rows) return;
    if (next !== mode && rows) {
      if (next === "json") { const v = rows.get(); if (v !== undefined) json.set(v); }
      else { const v = json.get(); if (Array.isArray(v) && v.length <= MAX_ROWS_SHOWN) rows.set(v); }
    }
    mode = next;
    rowsHolder.hidden = mode !== "rows";
    jsonHolder.hidden = mode !== "json";
    toggle.textContent = mode === "rows" ? "Edit as JSON" : "Edit as rows";
  };
  json.el.querySelector("input[type=file]").addEventListener("change", () => switchTo("json"));
  let asked = 0;
  const refresh = async () => {
    const mine = ++asked;
    try {
      const answer = await askService(ctx, key, dependencies(spec, ctx, key), {});
      if (mine !== asked) return;
      if (!answer.ok) {
        note.textContent = answer.error.message;
        switchTo("json");
        rows = null;
        toggle.hidden = true;
        return;
      }
      const shape = answer.result.schema;
      const item = shape && shape.type === "array" ? shape.items : shape;
      const columns = Object.keys((item && item.properties) || {});
      const next = {...plain, items: {...item, required: item.required || []}};
      const before = mode === "rows" && rows ? rows.get() : json.get();
      rows = isObjectArray(next) ? rowsEditor(path, next, {showAll: true}) : null;
      rowsHolder.replaceChildren(...(rows ? [rows.el] : []));
      if (rows) rows.el.dataset.dynamic = columns.join(",");
      toggle.hidden = !rows;
      note.textContent = columns.length ? `Columns from the service: ${columns.join(", ")}.` : "The service names no columns here.";
      // Rows typed or loaded stay where they are; an empty input opens on the columns.
      if (rows && Array.isArray(before) && before.length <= MAX_ROWS_SHOWN) rows.set(before);
      switchTo(rows && (before === undefined || mode === "rows") ? "rows" : "json");
    } catch (error) {
      if (mine === asked) note.textContent = `Could not ask the service: ${error.message}`;
    }
  };
  setTimeout(refresh, 0);  // once the form around it is built
  return {
    el: h("div", {"data-dynamic-schema": key}, h("div", {class: "row-actions"}, note, toggle), rowsHolder, jsonHolder),
    get() { return mode === "rows" && rows ? rows.get() : json.get(); },
    set(value) { json.set(value); if (rows && Array.isArray(value)) rows.set(value); },
    parentChanged: refresh,
  };
}

// One labelled field: label (title, key, required mark, range), control, help, error slot.
function fieldFor(prefix, key, schema, required, ctx) {
  const path = prefix + key;
  const editor = editorFor(path, schema, ctx);
  const id = `f-${path.replace(/[^\w-]/g, "_")}`;
  const control = editor.el.matches("input, select, textarea") ? editor.el : null;
  if (control) control.id = id;
  const range = rangeHint(schema);
  const label = h(control ? "label" : "div", {class: control ? null : "label", for: control ? id : null},
    schema.title || key, required ? h("span", {class: "req", title: "required", text: "*"}) : null,
    h("span", {class: "key", text: key}),
    range ? h("span", {class: "hint", text: range}) : null,
    isSecret(schema) ? h("span", {class: "hint", text: "secret"}) : null);
  const examples = schema.examples && !control
    ? h("button", {type: "button", class: "link", text: "Use the example", onclick: () => editor.set(schema.examples[0])}) : null;
  const el = h("div", {class: "field", "data-field": path}, label, editor.el, examples,
    schema.description ? h("div", {class: "help"}, prose(schema.description)) : null,
    h("div", {class: "error", "data-error-for": path}));
  if (schema.default !== undefined) editor.set(schema.default);
  return {key, schema, editor, el};
}

// Fields in their order, except that an input another one depends on (the workspace, for the
// datasets listed) comes just before it: a designer fills a form from the top.
function parentsFirst(fields) {
  const byKey = new Map(fields.map((f) => [f.key, f]));
  const out = [];
  const placed = new Set();
  const place = (f, seen) => {
    if (placed.has(f.key) || seen.has(f.key)) return;
    seen.add(f.key);
    const spec = f.schema["x-choices"] || f.schema["x-dynamic-schema"] || {};
    for (const key of spec.depends_on || []) if (byKey.has(key)) place(byKey.get(key), seen);
    placed.add(f.key);
    out.push(f);
  };
  for (const f of fields) place(f, new Set());
  return out;
}

// A form for an object schema: important inputs first; the pack's advanced inputs fold into
// "More options", the call inputs ("x-group": "advanced") into "Call options"; internal inputs
// keep their defaults and are not shown.
function formFor(schema, prefix, ctx) {
  const required = new Set(schema.required || []);
  const shown = Object.entries(schema.properties || {}).filter(([key, s]) => s["x-importance"] !== "internal" || required.has(key));
  const fields = shown.map(([key, s]) => fieldFor(prefix, key, s, required.has(key), ctx));
  const rank = (f) => (f.schema["x-importance"] === "important" ? 0 : 1);
  const main = parentsFirst(fields.filter((f) => f.schema["x-group"] !== "advanced" && f.schema["x-importance"] !== "advanced")
    .sort((a, b) => rank(a) - rank(b)));
  const more = fields.filter((f) => f.schema["x-group"] !== "advanced" && f.schema["x-importance"] === "advanced");
  const advanced = fields.filter((f) => f.schema["x-group"] === "advanced");
  // A field whose choices or shape depend on others is told when one of them changes.
  const dependents = (key) => fields.filter((f) => f.editor.parentChanged &&
    ((f.schema["x-choices"] || f.schema["x-dynamic-schema"] || {}).depends_on || []).includes(key));
  const changed = (event) => {
    const field = event.target.closest && event.target.closest("[data-field]");
    if (!field) return;
    const key = field.dataset.field.slice(prefix.length);
    if (key.includes(".") || key.includes("[")) return;
    for (const f of dependents(key)) if (f.key !== key) f.editor.parentChanged();
  };
  const el = h("div", {onchange: changed}, main.map((f) => f.el),
    more.length ? h("details", {class: "advanced more"},
      h("summary", {text: `More options (${more.length})`}), more.map((f) => f.el)) : null,
    advanced.length ? h("details", {class: "advanced"},
      h("summary", {text: `Call options: timeout, retries, debug (${advanced.length})`}), advanced.map((f) => f.el)) : null);
  return {
    el, schema, fields, prefix,
    // The inputs to send: what was given, leaving out what equals its default.
    values() {
      const out = {};
      for (const f of fields) {
        const v = f.editor.get();
        if (v === undefined) continue;
        if (f.schema.default !== undefined && deepEqual(v, f.schema.default)) continue;
        if (f.schema.default === undefined && v === false && f.schema.type === "boolean") continue;
        out[f.key] = v;
      }
      return out;
    },
    restore(values) {
      for (const f of fields) if (values[f.key] !== undefined) f.editor.set(values[f.key]);
    },
  };
}

// ---------------------------------------------------------------- errors next to fields

function clearErrors() {
  document.querySelectorAll(".invalid").forEach((el) => el.classList.remove("invalid"));
  document.querySelectorAll("[data-error-for]").forEach((el) => { el.textContent = ""; });
  const general = document.getElementById("general-errors");
  if (general) general.replaceChildren();
}

function humanPath(field, root) {
  const rest = field.slice(root.length);
  return rest.replace(/^\[(\d+)\]\.?/, (_, n) => `row ${Number(n) + 1}${rest.includes("].") ? " · " : ""}`);
}

// Put each {field, message} beside the control it names, or its nearest enclosing field.
function showErrors(details) {
  const general = document.getElementById("general-errors");
  for (const {field, message} of details) {
    const path = String(field || "");
    const control = path ? document.querySelector(`[data-path="${CSS.escape(path)}"]`) : null;
    if (control) control.classList.add("invalid");
    let root = path;
    let slot = null;
    while (root && !(slot = document.querySelector(`[data-error-for="${CSS.escape(root)}"]`))) {
      root = root.replace(/(\.[^.[\]]+|\[\d+\])$/, "");
      if (root === path) break;
    }
    if (slot) {
      const where = root === path ? "" : `${humanPath(path, root)}: `;
      slot.append(h("div", {text: `${where}${message}`}));
      const fieldEl = slot.closest(".field");
      const own = fieldEl && fieldEl.querySelector("input, select, textarea");
      if (!control && own && root === path) own.classList.add("invalid");
      const fold = slot.closest("details");
      if (fold) fold.open = true;
    } else if (general) {
      general.append(h("div", {text: `${path || "request"}: ${message}`}));
    }
  }
}

// ---------------------------------------------------------------- navigation

function groups(actions) {
  const out = new Map();
  if (Array.isArray(state.catalog.groups)) {  // describe's own grouping, in its order
    const byKey = new Map(actions.map((a) => [a.key, a]));
    for (const group of state.catalog.groups) {
      out.set(group.label, (group.actions || []).map((key) => byKey.get(key)).filter(Boolean));
    }
    const listed = new Set([...out.values()].flat());
    const rest = actions.filter((a) => !listed.has(a));
    if (rest.length) out.set("Other", [...(out.get("Other") || []), ...rest]);
    return out;
  }
  for (const action of actions) {
    const name = action.group || action["x-group"] || "Actions";
    if (!out.has(name)) out.set(name, []);
    out.get(name).push(action);
  }
  return out;
}

// The important actions first, then the others by task in describe's order (administrators'
// groups last); internal actions are not listed.
function sections() {
  const listed = state.catalog.actions.filter((a) => a.importance !== "internal");
  const byTask = groups(listed);
  const important = [...byTask.values()].flat().filter((a) => a.importance === "important");
  const out = new Map(important.length ? [["Important", important]] : []);
  for (const [name, actions] of byTask) {
    const rest = actions.filter((a) => a.importance !== "important");
    if (rest.length) out.set(out.has(name) ? `${name} ` : name, rest);
  }
  return out;
}

function renderNav() {
  const nav = document.getElementById("nav");
  nav.replaceChildren();
  if (!state.catalog) return;
  const word = state.filter.toLowerCase();
  const hit = (a) => !word || [a.label, a.key, a.description].some((t) => String(t || "").toLowerCase().includes(word));
  for (const [name, actions] of sections()) {
    const shown = actions.filter(hit);
    if (!shown.length) continue;
    nav.append(h("div", {class: "group-title", text: name}),
      ...shown.map((a) => h("a", {href: `#${a.key}`, class: `nav-item${state.action && state.action.key === a.key ? " active" : ""}`, "data-action": a.key},
        a.label, h("span", {class: "key", text: a.key}))));
  }
  const triggers = (state.catalog.triggers || []).filter(hit);
  if (triggers.length) {
    nav.append(h("div", {class: "group-title", text: "Triggers"}),
      ...triggers.map((t) => h("a", {href: `#trigger:${t.key}`, class: `nav-item${state.action && state.action.trigger && state.action.key === t.key ? " active" : ""}`, "data-trigger": t.key},
        t.label, h("span", {class: "key", text: t.key}))));
  }
  if (!nav.children.length) nav.append(h("p", {class: "muted small", text: "No action matches."}));
}

// A hash names an action (#list_groups) or a trigger (#trigger:refresh_failed).
function renderPage(hash) {
  if (hash.startsWith("trigger:")) renderTrigger(hash.slice("trigger:".length));
  else renderAction(hash);
}

function banner(text, bad) {
  const el = document.getElementById("banner");
  el.hidden = !text;
  el.textContent = text || "";
  el.classList.toggle("bad", Boolean(bad));
}

// ---------------------------------------------------------------- the action page

function connectionChoices() {
  const choices = state.presets.map((p) => ({id: `preset:${p.id}`, label: p.label}));
  for (const c of state.catalog.connections) {
    choices.push({id: `values:${c.key}`, label: `Enter values: ${c.label}`});
  }
  return choices;
}

function connectionCard() {
  const select = h("select", {id: "connection", "aria-label": "Connection"},
    connectionChoices().map((c) => h("option", {value: c.id, text: c.label})));
  if (state.connection) select.value = state.connection;
  const holder = h("div", {class: "conn-values"});
  const show = () => {
    state.connection = select.value;
    holder.replaceChildren();
    const [kind, id] = select.value.split(/:(.*)/s);
    if (kind === "preset") {
      const preset = state.presets.find((p) => p.id === id);
      holder.append(h("table", {class: "result"}, h("tbody", {}, Object.entries(preset.values).map(([k, v]) =>
        h("tr", {}, h("th", {text: k}), h("td", {class: "mono", text: String(v)}))))));
      if (preset.stored) {
        holder.append(h("div", {class: "help"}, prose(preset.stored.token
          ? `Stored as \`${preset.stored.name}\` with a token: the runtime reads it from the state store and saves a renewed one back there.`
          : `Stored as \`${preset.stored.name}\`, with no token saved: the runtime obtains one when the action runs.`)));
      }
      return;
    }
    const conn = state.catalog.connections.find((c) => c.key === id);
    if (!state.connForms[id]) {
      const form = formFor(conn.values, "connection.values.");
      const token = h("input", {type: "password", id: "connection-token", "data-path": "connection.token",
        autocomplete: "off", placeholder: '{"access_token": "…", "refresh_token": "…", "expires_at": …}'});
      form.token = token;
      form.el.append(h("div", {class: "field", "data-field": "connection.token"},
        h("label", {for: "connection-token"}, "Token", h("span", {class: "key", text: "token"})), token,
        h("div", {class: "help"}, prose("The token JSON `connectorkit auth login` printed, for a connection with a signed-in user. Not needed for a service principal.")),
        h("div", {class: "error", "data-error-for": "connection.token"})));
      state.connForms[id] = form;
    }
    holder.append(h("div", {class: "help"}, prose(conn.description)), state.connForms[id].el);
  };
  select.addEventListener("change", show);
  show();
  return h("section", {class: "card"}, h("h2", {text: "Connection"}), select, holder);
}

function renderAction(key) {
  const catalog = state.catalog;
  const first = () => [...sections().values()][0]?.[0] || catalog.actions[0];
  const action = catalog && (catalog.actions.find((a) => a.key === key) || first());
  const main = document.getElementById("main");
  if (!action) { main.replaceChildren(h("p", {class: "muted", text: "This pack has no actions."})); return; }
  const previous = state.action && state.action.key === action.key && state.form ? state.form.values() : null;
  state.action = action;
  const ctx = {action: action.key, values: () => (state.form ? state.form.values() : {})};
  const form = formFor(action.inputs, "", ctx);
  state.form = form;
  if (previous) form.restore(previous);
  const browserCheck = h("input", {type: "checkbox", id: "browser-check", checked: state.browserCheck !== false,
    onchange: () => { state.browserCheck = browserCheck.checked; }});
  const runButton = h("button", {type: "submit", class: "primary", id: "run", text: "Run"});
  const formEl = h("form", {id: "action-form", novalidate: true, onsubmit: (event) => { event.preventDefault(); run(); }},
    h("section", {class: "card"}, h("h2", {text: "Inputs"}), form.el),
    connectionCard(),
    h("div", {class: "actions-bar"}, runButton,
      h("label", {class: "inline", for: "browser-check"}, browserCheck, "Check the inputs in the browser first"),
      h("span", {id: "run-state", class: "muted"})),
    h("div", {id: "general-errors", class: "error"}));
  const examples = Array.isArray(action.examples) && action.examples.length
    ? h("div", {class: "examples"}, h("span", {class: "muted", text: "Fill in an example: "}),
      ...action.examples.map((example, i) => h("button", {type: "button", class: "link", "data-example": String(i),
        text: example.title || `Example ${i + 1}`, onclick: () => {
          state.form = null;
          renderAction(action.key);
          state.form.restore(example.inputs || {});
        }})))
    : null;
  main.replaceChildren(
    h("h1", {id: "action-title", text: action.label}),
    h("div", {class: "muted mono small", text: action.key}),
    h("p", {class: "help"}, prose(action.description)),
    ...(examples ? [examples] : []),
    h("div", {class: "work"}, formEl,
      h("div", {id: "results"}, h("section", {class: "card muted", text:
        "Run the action: the request sent, the response, the envelope and the commands to copy appear here."}))));
  renderNav();
}

function renderTrigger(key) {
  const trigger = (state.catalog.triggers || []).find((t) => t.key === key);
  if (!trigger) { renderAction(""); return; }
  const main = document.getElementById("main");
  const same = state.action && state.action.trigger && state.action.key === key && state.form;
  const previous = same ? state.form.values() : null;
  state.action = {...trigger, trigger: true};
  const form = formFor(trigger.inputs, "");
  state.form = form;
  if (previous) form.restore(previous);
  if (!state.subscriptions[key]) state.subscriptions[key] = `studio-${key}-${Math.random().toString(36).slice(2, 8)}`;
  const formEl = h("form", {id: "action-form", novalidate: true, onsubmit: (event) => { event.preventDefault(); run(); }},
    h("section", {class: "card"}, h("h2", {text: "Inputs"}), form.el),
    connectionCard(),
    h("div", {class: "actions-bar"}, h("button", {type: "submit", class: "primary", id: "run", text: "Poll"}),
      h("span", {class: "muted small", id: "subscription", text: `subscription ${state.subscriptions[key]}`}),
      h("span", {id: "run-state", class: "muted"})),
    h("div", {id: "general-errors", class: "error"}));
  main.replaceChildren(
    h("h1", {id: "action-title", text: trigger.label}),
    h("div", {class: "muted mono small", text: `${trigger.key} · trigger · polled every ${trigger.interval_s} s`}),
    h("p", {class: "help"}, prose(trigger.description)),
    h("p", {class: "help", text: "The first poll starts the subscription from now (or from Since); each later poll shows what happened since the one before, once."}),
    h("div", {class: "work"}, formEl,
      h("div", {id: "results"}, h("section", {class: "card muted", text:
        "Poll the trigger: its new events, the requests sent and the envelope appear here."}))));
  renderNav();
}

function eventsView(result) {
  const events = Array.isArray(result.events) ? result.events : [];
  const note = result.first
    ? "The subscription starts here: the next polls give what happens from now on."
    : `${events.length} new event${events.length === 1 ? "" : "s"}${result.more ? "; more are waiting: poll again" : ""}.`;
  return h("section", {class: "card"}, h("h2", {text: "Events"}), h("p", {class: "muted small", id: "events-note", text: note}),
    events.length ? eventsTable(events) : null);
}

// Each event's id, its time when the trigger orders by one, and what it carries.
function eventsTable(events) {
  const timed = events.some((e) => e.at !== undefined);
  const columns = timed ? ["id", "at", "data"] : ["id", "data"];
  return h("table", {class: "result", id: "events-table"},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {text: c})))),
    h("tbody", {}, events.map((e) => h("tr", {}, h("td", {class: "mono", text: e.id}),
      timed ? h("td", {text: cell(e.at)}) : null, h("td", {class: "mono", text: cell(e.data)})))));
}

// ---------------------------------------------------------------- running

function chosenConnection() {
  const [kind, id] = (state.connection || "").split(/:(.*)/s);
  if (kind === "preset") return {connection: {preset: id}, errors: []};
  const form = state.connForms[id];
  const conn = state.catalog.connections.find((c) => c.key === id);
  const values = form ? form.values() : {};
  const errors = validate(values, conn.values, "connection.values", []);
  const connection = {key: id, values};
  const tokenText = form && form.token.value.trim();
  if (tokenText) {
    try { connection.token = JSON.parse(tokenText); } catch (error) {
      errors.push({field: "connection.token", message: `is not valid JSON: ${error.message}`});
    }
  }
  return {connection, errors};
}

async function run() {
  clearErrors();
  const inputs = state.form.values();
  const {connection, errors: connErrors} = chosenConnection();
  if (state.browserCheck !== false) {
    const errors = [...validate(inputs, state.action.inputs, "", []), ...connErrors];
    if (errors.length) {
      showErrors(errors);
      document.getElementById("run-state").textContent = `Not run: ${errors.length} input${errors.length === 1 ? "" : "s"} to fix.`;
      const first = document.querySelector(".invalid, .error:not(:empty)");
      if (first) first.scrollIntoView({block: "center"});
      return;
    }
  }
  const button = document.getElementById("run");
  button.disabled = true;
  document.getElementById("run-state").textContent = state.action.trigger ? "Polling…" : "Running…";
  try {
    const key = state.action.key;
    const asked = state.action.trigger
      ? {trigger: key, subscription: state.subscriptions[key], inputs, connection}
      : {action: key, inputs, connection};
    const {id} = await getJson("/api/run", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify(asked)});
    state.running = id;
    await poll(id);
  } catch (error) {
    document.getElementById("run-state").textContent = `Could not run: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

async function waitFor(handle) {
  const {connection} = chosenConnection();
  document.getElementById("run-state").textContent = "Waiting…";
  const {id} = await getJson("/api/run", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({resume: handle, connection})});
  state.running = id;
  await poll(id);
}

// An operation the call follows, or leaves running: its status, and what to do with its handle.
function operationView(op, leftRunning) {
  const percent = typeof op.percent === "number" ? op.percent : null;
  const figures = [
    h("div", {}, h("b", {id: "operation-status", text: op.service_status || op.status}), "status"),
    h("div", {}, h("b", {text: percent === null ? "—" : `${Math.round(percent)} %`}), "done"),
    h("div", {}, h("b", {text: seconds(op.elapsed_s)}), "elapsed"),
    h("div", {}, h("b", {text: String(op.polls ?? 0)}), "polls"),
  ];
  const copy = h("button", {type: "button", text: "Copy handle", onclick: async () => {
    try { await navigator.clipboard.writeText(op.handle); copy.textContent = "Copied"; } catch { copy.textContent = "Select and copy"; }
  }});
  const actions = [copy];
  if (leftRunning) {
    actions.unshift(h("button", {type: "button", id: "wait-operation", text: "Wait for it", onclick: () => waitFor(op.handle)}));
  }
  return h("section", {class: "card progress-view", id: "operation"},
    h("h2", {text: leftRunning ? "The operation goes on" : "Operation"}),
    percent === null ? null : h("progress", {max: 100, value: percent}),
    h("div", {class: "figures"}, ...figures),
    h("p", {class: "help"}, "Handle ", h("code", {id: "operation-handle", text: op.handle}),
      leftRunning ? ": any worker sharing the state store can wait for it (connectorkit operations wait)." : ""),
    h("div", {}, ...actions));
}

async function poll(id) {
  for (;;) {
    const current = await getJson(`/api/runs/${encodeURIComponent(id)}`);
    if (state.running !== id) return;
    renderRun(current);
    if (current.state === "done") return;
    await new Promise((resolve) => { setTimeout(resolve, POLL_RUN_MS); });
  }
}

function copyBlock(title, text, id) {
  const button = h("button", {type: "button", text: "Copy", onclick: async () => {
    try { await navigator.clipboard.writeText(text); button.textContent = "Copied"; } catch { button.textContent = "Select and copy"; }
  }});
  return h("div", {}, h("div", {class: "copy-head"}, h("b", {text: title}), button), h("pre", {id, text: clip(text)}));
}

function seconds(s) {
  if (s === null || s === undefined) return "—";
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

function progressView(p, done) {
  return h("section", {class: "card progress-view", id: "progress"},
    h("h2", {text: done ? "Push" : "Push in progress"}),
    h("progress", {max: p.items_total, value: p.items_done}),
    h("div", {class: "figures"},
      h("div", {}, h("b", {id: "progress-items", text: `${p.items_done.toLocaleString()} / ${p.items_total.toLocaleString()}`}), "rows"),
      h("div", {}, h("b", {id: "progress-batches", text: `${p.batches_done} / ${p.batches_total}`}), "batches"),
      h("div", {}, h("b", {id: "progress-inflight", text: String(p.in_flight)}), "in flight"),
      h("div", {}, h("b", {text: seconds(p.elapsed_s)}), "elapsed"),
      h("div", {}, h("b", {id: "progress-eta", text: done ? "done" : seconds(p.eta_s)}), "left (estimate)")));
}

function cell(value) {
  if (value === null || value === undefined) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

// A list result (`value`: [...objects]) as a table; any other object as its fields.
function resultView(result) {
  const items = result && Array.isArray(result.value) ? result.value : (Array.isArray(result) ? result : null);
  if (items && items.every((i) => i && typeof i === "object" && !Array.isArray(i))) {
    const columns = [...new Set(items.flatMap((i) => Object.keys(i)))].slice(0, 10);
    return h("div", {},
      h("div", {class: "muted small", text: `${items.length} item${items.length === 1 ? "" : "s"}`}),
      h("table", {class: "result", id: "result-table"},
        h("thead", {}, h("tr", {}, columns.map((c) => h("th", {text: c})))),
        h("tbody", {}, items.map((i) => h("tr", {}, columns.map((c) => h("td", {text: cell(i[c])})))))));
  }
  if (result && typeof result === "object" && !Array.isArray(result)) {
    return h("table", {class: "result", id: "result-table"}, h("tbody", {},
      Object.entries(result).map(([k, v]) => h("tr", {}, h("th", {text: k}), h("td", {class: "mono", text: cell(v)})))));
  }
  return h("pre", {text: clip(pretty(result))});
}

function exchangeView(x) {
  const status = x.status === null ? "…" : `${x.status} ${x.reason}`;
  const headers = (pairs) => pairs.map(([k, v]) => `${k}: ${v}`).join("\n");
  return h("details", {class: "exchange"},
    h("summary", {}, h("span", {class: `badge s${String(x.status || "")[0] || ""}`, text: status}), ` ${x.method} ${x.url}`,
      x.duration_ms !== null ? h("span", {class: "muted", text: ` · ${x.duration_ms} ms`}) : null),
    h("div", {class: "small muted", text: "Request"}),
    h("pre", {text: clip(`${x.method} ${x.url}\n${headers(x.request_headers)}${x.request_body ? `\n\n${x.request_body}` : ""}`)}),
    h("div", {class: "small muted", text: "Response"}),
    h("pre", {text: clip(`${status}\n${headers(x.response_headers)}${x.response_body ? `\n\n${x.response_body}` : ""}`)}));
}

function renderRun(current) {
  const results = document.getElementById("results");
  const done = current.state === "done";
  const response = current.response;
  const parts = [];
  if (!done) {
    parts.push(h("div", {class: "status running", id: "status", "data-run": current.id, text: `Running ${current.id}… ${current.exchanges.length} request(s) so far`}));
  } else if (response.ok) {
    const m = response.meta || {};
    parts.push(h("div", {class: "status ok", id: "status", "data-run": current.id,
      text: `✓ ok · exit code 0 · ${m.requests} request(s), ${m.retries} retr${m.retries === 1 ? "y" : "ies"}, ${m.duration_ms} ms`}));
  } else {
    const e = response.error;
    parts.push(h("div", {class: "status fail", id: "status", "data-run": current.id, text: `✗ ${e.type} · exit code ${current.exit_code}: ${e.message}`}));
  }
  if (current.progress) parts.push(progressView(current.progress, done));
  const leftRunning = done && response.ok && response.result && response.result.status === "running" && response.result.operation;
  if (leftRunning) parts.push(operationView(response.result.operation, true));
  else if (!done && current.operation) parts.push(operationView(current.operation, false));
  if (done && response.ok && response.trigger) parts.push(eventsView(response.result));
  else if (done && response.ok) parts.push(h("section", {class: "card"}, h("h2", {text: "Result"}), resultView(response.result)));
  parts.push(h("section", {class: "card"}, h("h2", {text: `Requests sent (${current.exchanges.length})`}),
    current.exchanges.length ? current.exchanges.map(exchangeView) : h("p", {class: "muted", text: "None: the runtime refused the request before sending anything."})));
  if (done) {
    parts.push(h("section", {class: "card"}, h("h2", {text: "Response envelope"}), h("pre", {id: "envelope", text: clip(pretty(response))})));
    const r = current.recipes;
    parts.push(h("section", {class: "card"}, h("h2", {text: "Do it again elsewhere"}),
      h("p", {class: "help", text: "Secrets are shown as *** here: put yours back where you paste."}),
      copyBlock("invoke", r.invoke, "recipe-invoke"),
      copyBlock(r.command || "connectorkit run", r.run, "recipe-run"),
      r.connection ? copyBlock(r.connection_file, r.connection, "recipe-connection") : null));
    if (response.error && response.error.type === "invalid_input" && response.error.details) showErrors(response.error.details);
    else if (response.error && response.error.details && response.error.type === "invalid_connection") showErrors(response.error.details);
    document.getElementById("run-state").textContent = "";
  }
  results.replaceChildren(...parts);
}

// ---------------------------------------------------------------- catalog and reloads

async function loadCatalog(reloaded) {
  const data = await getJson("/api/catalog");
  state.version = data.version;
  state.stored = data.connections;
  state.presets = data.presets;
  // A stored connection that went away while chosen falls back to the first choice.
  if (state.connection && state.connection.startsWith("preset:") && !state.presets.some((p) => `preset:${p.id}` === state.connection)) state.connection = null;
  document.getElementById("pack-path").textContent = data.pack;
  if (data.error) {
    banner(`The pack does not load: ${data.error.message}`, true);
    return;
  }
  const keep = state.form ? {key: state.action.key, trigger: Boolean(state.action.trigger), values: state.form.values()} : null;
  // Typed connection values survive a reload unless that connection's schema changed.
  const kept = {};
  for (const c of data.catalog.connections) {
    const before = state.catalog && state.catalog.connections.find((o) => o.key === c.key);
    if (before && state.connForms[c.key] && deepEqual(before.values, c.values)) kept[c.key] = state.connForms[c.key];
  }
  state.catalog = data.catalog;
  state.connForms = kept;
  if (!state.connection) state.connection = state.presets.length ? `preset:${state.presets[0].id}` : `values:${data.catalog.default_connection}`;
  document.getElementById("pack-label").textContent = data.catalog.label;
  document.getElementById("pack-version").textContent = data.catalog.version ? `v${data.catalog.version}` : "";
  document.title = `${data.catalog.label} · connectorkit studio`;
  banner(reloaded ? `Reloaded: the pack's files changed (${new Date().toLocaleTimeString()}).` : "", false);
  renderNav();
  const key = decodeURIComponent(location.hash.slice(1)) || (keep && (keep.trigger ? `trigger:${keep.key}` : keep.key)) || "";
  state.form = null;
  renderPage(key);
  if (keep && state.action.key === keep.key && Boolean(state.action.trigger) === keep.trigger) state.form.restore(keep.values);
}

async function watchPack() {
  try {
    const {version, connections} = await getJson("/api/version");
    if (version !== state.version) await loadCatalog(true);
    else if (connections !== state.stored) await loadCatalog(false);
  } catch {
    banner("The studio server does not answer: is `connectorkit studio` still running?", true);
  }
  setTimeout(watchPack, POLL_PACK_MS);
}

window.addEventListener("hashchange", () => { if (state.catalog) renderPage(decodeURIComponent(location.hash.slice(1))); });
document.addEventListener("DOMContentLoaded", async () => {
  const search = document.getElementById("search");
  search.addEventListener("input", () => { state.filter = search.value; renderNav(); });
  search.addEventListener("keydown", (event) => {
    const first = document.querySelector("#nav .nav-item");
    if (event.key === "Enter" && first) location.hash = first.dataset.action || `trigger:${first.dataset.trigger}`;
  });
  try { await loadCatalog(false); } catch (error) { banner(`Cannot load the catalog: ${error.message}`, true); }
  setTimeout(watchPack, POLL_PACK_MS);
});
