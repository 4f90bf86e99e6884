#!/usr/bin/env node
// Validates rendered Kubernetes manifests offline.
//
//   node validate.mjs [--source NAME] [FILE|-]...     (no FILE: standard input)
//
// Every document of the multi-document YAML is checked three ways:
//   1. against the Kubernetes OpenAPI schema of its apiVersion/kind
//      (npm kubernetes-models) or, for Strimzi's kinds, the Strimzi CRD schema
//      (npm @kubernetes-models/strimzi-kafka-operator). A kind neither knows is
//      an error;
//   2. against what the API server checks beyond the schema and a render can
//      already tell: names, label syntax, port names, references between the
//      objects (volumes, named ports, Services, ConfigMaps, $(VAR) in args);
//   3. against Strata's rules: every Deployment/StatefulSet container has
//      resource requests, a memory limit, readiness and liveness probes;
//      every StatefulSet has volumeClaimTemplates; every workload has a
//      PodDisruptionBudget; the event log topic is kept forever and written
//      to three replicas, two in sync; Kafka itself keeps three.
//
// Prints one line per problem, "SOURCE: Kind namespace/name: field: message",
// and exits 1 if there was any, 2 on a usage or input error, else 0.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const STRIMZI_GROUPS = new Set(["kafka.strimzi.io", "core.strimzi.io"]);
const WORKLOAD_KINDS = new Set(["Deployment", "StatefulSet"]);
const EVENT_TOPIC = "strata.events";

// ---------------------------------------------------------------- input

function usage(message) {
  if (message) console.error(`validate.mjs: ${message}`);
  console.error("usage: node validate.mjs [--source NAME] [FILE|-]...");
  process.exit(2);
}

const args = process.argv.slice(2);
let sourceName = null;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--source") {
    if (i + 1 >= args.length) usage("--source needs a value");
    sourceName = args[++i];
  } else if (args[i] === "-h" || args[i] === "--help") {
    usage();
  } else if (args[i].startsWith("--")) {
    usage(`unknown option ${args[i]}`);
  } else {
    files.push(args[i]);
  }
}
if (files.length === 0) files.push("-");

const problems = [];
function report(source, obj, field, message) {
  problems.push(`${source}: ${describe(obj)}: ${field ? field + ": " : ""}${message}`);
}

function describe(obj) {
  if (!obj || typeof obj !== "object") return "document";
  const kind = obj.kind ?? "<no kind>";
  const name = obj.metadata?.name ?? "<no name>";
  const ns = obj.metadata?.namespace;
  return `${kind} ${ns ? ns + "/" : ""}${name}`;
}

// Reads every document; YAML 1.1, as the Kubernetes API machinery reads it
// (so `on`/`yes` are booleans and 0644 is octal, as kubectl would send them).
function readDocuments(file) {
  const source = sourceName ?? (file === "-" ? "<stdin>" : file);
  let text;
  try {
    text = readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (e) {
    console.error(`validate.mjs: cannot read ${file}: ${e.message}`);
    process.exit(2);
  }
  const out = [];
  const docs = parseAllDocuments(text, { version: "1.1", prettyErrors: true });
  // parseAllDocuments returns an EmptyStream (not an array) for empty input.
  for (const [i, doc] of [...docs].entries()) {
    const syntax = [...doc.errors];
    if (syntax.length > 0) {
      for (const e of syntax) problems.push(`${source}: document ${i + 1}: YAML: ${e.message.split("\n")[0]}`);
      continue;
    }
    const obj = doc.toJS({ maxAliasCount: 1000 });
    if (obj === null || obj === undefined) continue; // an empty document (---\n---)
    if (typeof obj !== "object" || Array.isArray(obj)) {
      problems.push(`${source}: document ${i + 1}: not a mapping (a Kubernetes object)`);
      continue;
    }
    // A List (kubectl get -o yaml) holds objects.
    if (obj.kind === "List" && Array.isArray(obj.items)) out.push(...obj.items);
    else out.push(obj);
  }
  return { source, objects: out };
}

// ---------------------------------------------------------------- schemas

const moduleCache = new Map();
async function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== "string" || apiVersion === "") return { error: "apiVersion is missing" };
  if (typeof kind !== "string" || kind === "") return { error: "kind is missing" };
  const slash = apiVersion.indexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  const specifier = STRIMZI_GROUPS.has(group)
    ? `@kubernetes-models/strimzi-kafka-operator/${group}/${version}`
    : `kubernetes-models/${group === "" ? "" : group + "/"}${version}`;
  if (!moduleCache.has(specifier)) {
    moduleCache.set(
      specifier,
      import(specifier).catch(() => null),
    );
  }
  const mod = await moduleCache.get(specifier);
  if (!mod) return { error: `unknown apiVersion ${apiVersion} (no schema for it)` };
  const cls = mod[kind];
  if (typeof cls !== "function" || cls.apiVersion !== apiVersion || cls.kind !== kind) {
    return { error: `unknown kind ${kind} in ${apiVersion} (no schema for it)` };
  }
  return { cls };
}

// "/spec/template/spec/containers/0/ports/0/containerPort"
//   -> "spec.template.spec.containers[0].ports[0].containerPort"
function fieldPath(pointer) {
  if (!pointer) return "";
  let out = "";
  for (const raw of pointer.split("/").slice(1)) {
    const part = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(part)) out += (out ? "." : "") + part;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

function schemaErrors(err) {
  const list = Array.isArray(err?.errors) ? err.errors : null;
  if (!list) return [{ field: "", message: String(err?.message ?? err) }];
  const seen = new Set();
  const out = [];
  for (const e of list) {
    let field = fieldPath(e.instancePath);
    let message = e.message ?? e.keyword;
    if (e.keyword === "required" && e.params?.missingProperty) {
      field = field ? `${field}.${e.params.missingProperty}` : e.params.missingProperty;
      message = "required field is missing";
    } else if (e.keyword === "enum" && e.params?.allowedValues) {
      message = `must be one of ${e.params.allowedValues.map((v) => JSON.stringify(v)).join(", ")}`;
    }
    const key = `${field}\0${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ field, message });
  }
  return out;
}

async function checkSchema(source, obj) {
  const { cls, error } = await modelFor(obj.apiVersion, obj.kind);
  if (error) {
    report(source, obj, "", error);
    return;
  }
  try {
    new cls(obj).validate();
  } catch (e) {
    for (const { field, message } of schemaErrors(e)) report(source, obj, field, message);
  }
}

// ---------------------------------------------------------------- API server rules

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
// Kinds whose names need only be DNS subdomains are the default; these need less.
const LABEL_NAMED_KINDS = new Set(["Namespace", "StatefulSet", "Deployment", "DaemonSet", "ReplicaSet"]);

function isIanaSvcName(s) {
  return (
    typeof s === "string" &&
    s.length >= 1 &&
    s.length <= 15 &&
    /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(s) &&
    !s.includes("--") &&
    /[a-z]/.test(s)
  );
}

function checkQualifiedKey(key) {
  const slash = key.lastIndexOf("/");
  const prefix = slash < 0 ? null : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== null && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) return "prefix must be a DNS subdomain";
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) return "name must be at most 63 alphanumerics, '-', '_' or '.'";
  return null;
}

function checkMetadata(source, obj, meta, at) {
  if (!meta || typeof meta !== "object") return;
  for (const [k, v] of Object.entries(meta.labels ?? {})) {
    const bad = checkQualifiedKey(k);
    if (bad) report(source, obj, `${at}.labels[${JSON.stringify(k)}]`, `invalid label key: ${bad}`);
    if (typeof v !== "string" || v.length > 63 || !LABEL_VALUE.test(v))
      report(source, obj, `${at}.labels[${JSON.stringify(k)}]`, `invalid label value ${JSON.stringify(v)}`);
  }
  for (const k of Object.keys(meta.annotations ?? {})) {
    const bad = checkQualifiedKey(k);
    if (bad) report(source, obj, `${at}.annotations[${JSON.stringify(k)}]`, `invalid annotation key: ${bad}`);
  }
}

function checkName(source, obj) {
  const name = obj.metadata?.name;
  if (typeof name !== "string" || name === "") {
    report(source, obj, "metadata.name", "required field is missing");
    return;
  }
  if (obj.kind === "Service") {
    if (name.length > 63 || !DNS1035_LABEL.test(name))
      report(source, obj, "metadata.name", "a Service name must be a DNS-1035 label (a-z first, a-z0-9 and '-', at most 63)");
  } else if (LABEL_NAMED_KINDS.has(obj.kind)) {
    if (name.length > 63 || !DNS1123_LABEL.test(name))
      report(source, obj, "metadata.name", "must be a DNS-1123 label (a-z0-9 and '-', at most 63)");
  } else if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    report(source, obj, "metadata.name", "must be a DNS-1123 subdomain (a-z0-9, '-' and '.', at most 253)");
  }
}

// ---------------------------------------------------------------- helpers over the render

function podTemplateOf(obj) {
  if (WORKLOAD_KINDS.has(obj.kind) || obj.kind === "DaemonSet" || obj.kind === "ReplicaSet" || obj.kind === "Job")
    return obj.spec?.template;
  if (obj.kind === "CronJob") return obj.spec?.jobTemplate?.spec?.template;
  return undefined;
}

function selectorMatches(selector, labels) {
  if (!selector || typeof selector !== "object" || !labels) return false;
  const entries = Object.entries(selector);
  if (entries.length === 0) return false;
  return entries.every(([k, v]) => labels[k] === v);
}

function labelSelectorMatches(sel, labels) {
  if (!sel || !labels) return false;
  const ml = sel.matchLabels ?? {};
  const exprs = sel.matchExpressions ?? [];
  if (Object.keys(ml).length === 0 && exprs.length === 0) return false;
  if (!Object.entries(ml).every(([k, v]) => labels[k] === v)) return false;
  return exprs.every((e) => {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    switch (e.operator) {
      case "In": return has && (e.values ?? []).includes(labels[e.key]);
      case "NotIn": return !has || !(e.values ?? []).includes(labels[e.key]);
      case "Exists": return has;
      case "DoesNotExist": return !has;
      default: return false;
    }
  });
}

function sameNamespace(a, b) {
  return (a.metadata?.namespace ?? "") === (b.metadata?.namespace ?? "");
}

function findObject(objects, kind, name, near) {
  return objects.find((o) => o.kind === kind && o.metadata?.name === name && sameNamespace(o, near));
}

function configKeys(obj) {
  return new Set([...Object.keys(obj?.data ?? {}), ...Object.keys(obj?.stringData ?? {}), ...Object.keys(obj?.binaryData ?? {})]);
}

// ---------------------------------------------------------------- workloads

function checkPodTemplate(source, obj, objects, base) {
  const tmpl = podTemplateOf(obj);
  const spec = tmpl?.spec;
  if (!spec) return;
  checkMetadata(source, obj, tmpl.metadata, `${base}.metadata`);
  const volumes = new Set((spec.volumes ?? []).map((v) => v?.name));
  for (const c of obj.spec?.volumeClaimTemplates ?? []) volumes.add(c?.metadata?.name);

  for (const [i, v] of (spec.volumes ?? []).entries()) {
    const cm = v?.configMap;
    if (cm?.name && !cm.optional && !findObject(objects, "ConfigMap", cm.name, obj))
      report(source, obj, `${base}.spec.volumes[${i}].configMap.name`, `ConfigMap ${cm.name} is not in this render`);
  }

  const groups = [
    ["initContainers", spec.initContainers ?? []],
    ["containers", spec.containers ?? []],
  ];
  const names = new Set();
  for (const [group, containers] of groups) {
    for (const [i, c] of containers.entries()) {
      if (!c || typeof c !== "object") continue;
      const at = `${base}.spec.${group}[${i}]`;
      if (typeof c.name === "string") {
        if (!DNS1123_LABEL.test(c.name) || c.name.length > 63)
          report(source, obj, `${at}.name`, "must be a DNS-1123 label");
        if (names.has(c.name)) report(source, obj, `${at}.name`, `duplicate container name ${c.name}`);
        names.add(c.name);
      }
      if (typeof c.image === "string" && (/:latest$/.test(c.image) || (!c.image.includes("@") && !/:[^/]+$/.test(c.image))))
        report(source, obj, `${at}.image`, `pin a version (a tag other than latest, or a digest): ${c.image}`);

      const portNames = new Set();
      for (const [j, p] of (c.ports ?? []).entries()) {
        if (p?.name !== undefined) {
          if (!isIanaSvcName(p.name))
            report(source, obj, `${at}.ports[${j}].name`, `must be an IANA service name (a-z0-9 and '-', a letter, at most 15): ${JSON.stringify(p.name)}`);
          if (portNames.has(p.name)) report(source, obj, `${at}.ports[${j}].name`, `duplicate port name ${p.name}`);
          portNames.add(p.name);
        }
      }

      for (const [k, m] of (c.volumeMounts ?? []).entries()) {
        if (m?.name && !volumes.has(m.name))
          report(source, obj, `${at}.volumeMounts[${k}].name`, `no volume or volumeClaimTemplate named ${m.name}`);
      }

      // Names a container's $(VAR) references may use.
      const envNames = new Set();
      for (const [k, e] of (c.env ?? []).entries()) {
        if (e?.name) envNames.add(e.name);
        const ref = e?.valueFrom?.configMapKeyRef;
        if (ref?.name && !ref.optional) {
          const cm = findObject(objects, "ConfigMap", ref.name, obj);
          if (!cm) report(source, obj, `${at}.env[${k}].valueFrom.configMapKeyRef`, `ConfigMap ${ref.name} is not in this render`);
          else if (!configKeys(cm).has(ref.key)) report(source, obj, `${at}.env[${k}].valueFrom.configMapKeyRef.key`, `ConfigMap ${ref.name} has no key ${ref.key}`);
        }
      }
      for (const [k, e] of (c.envFrom ?? []).entries()) {
        const prefix = e?.prefix ?? "";
        const cmRef = e?.configMapRef;
        const secRef = e?.secretRef;
        if (cmRef?.name) {
          const cm = findObject(objects, "ConfigMap", cmRef.name, obj);
          if (!cm) {
            if (!cmRef.optional) report(source, obj, `${at}.envFrom[${k}].configMapRef.name`, `ConfigMap ${cmRef.name} is not in this render`);
          } else for (const key of configKeys(cm)) envNames.add(prefix + key);
        }
        if (secRef?.name) {
          const s = findObject(objects, "Secret", secRef.name, obj);
          if (s) for (const key of configKeys(s)) envNames.add(prefix + key);
        }
      }
      for (const field of ["command", "args"]) {
        for (const [k, a] of (c[field] ?? []).entries()) {
          if (typeof a !== "string") continue;
          // $$(X) is an escaped literal; $(X) must name a variable.
          for (const m of a.replace(/\$\$/g, "").matchAll(/\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g)) {
            if (!envNames.has(m[1]))
              report(source, obj, `${at}.${field}[${k}]`, `$(${m[1]}) is not defined by env or envFrom: it would be passed literally`);
          }
        }
      }

      for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
        const p = c[probe];
        if (!p) continue;
        for (const handler of ["httpGet", "tcpSocket", "grpc"]) {
          const port = p[handler]?.port;
          if (typeof port === "string" && !/^\d+$/.test(port) && !portNames.has(port))
            report(source, obj, `${at}.${probe}.${handler}.port`, `container has no port named ${port}`);
        }
      }

      if (group === "containers" && WORKLOAD_KINDS.has(obj.kind)) {
        const r = c.resources ?? {};
        if (r.requests?.cpu === undefined) report(source, obj, `${at}.resources.requests.cpu`, "Strata rule: every container requests CPU");
        if (r.requests?.memory === undefined) report(source, obj, `${at}.resources.requests.memory`, "Strata rule: every container requests memory");
        if (r.limits?.memory === undefined) report(source, obj, `${at}.resources.limits.memory`, "Strata rule: every container has a memory limit");
        if (!c.readinessProbe) report(source, obj, `${at}.readinessProbe`, "Strata rule: every container has a readiness probe");
        if (!c.livenessProbe) report(source, obj, `${at}.livenessProbe`, "Strata rule: every container has a liveness probe");
      }
    }
  }

  // Prometheus scrape annotations must point at a declared port.
  const ann = tmpl.metadata?.annotations ?? {};
  if (ann["prometheus.io/scrape"] === "true") {
    const port = Number(ann["prometheus.io/port"]);
    const declared = (spec.containers ?? []).some((c) => (c?.ports ?? []).some((p) => p?.containerPort === port));
    if (!declared) report(source, obj, `${base}.metadata.annotations["prometheus.io/port"]`, `no container declares port ${ann["prometheus.io/port"]}`);
  }
}

function podLabels(obj) {
  return podTemplateOf(obj)?.metadata?.labels;
}

function checkWorkload(source, obj, objects) {
  const base = "spec.template";
  checkPodTemplate(source, obj, objects, obj.kind === "CronJob" ? "spec.jobTemplate.spec.template" : base);
  if (!WORKLOAD_KINDS.has(obj.kind)) return;

  const sel = obj.spec?.selector;
  const labels = podLabels(obj);
  if (sel && labels && !labelSelectorMatches(sel, labels))
    report(source, obj, "spec.selector", "does not match the pod template's labels");

  if (obj.kind === "StatefulSet") {
    const vcts = obj.spec?.volumeClaimTemplates;
    if (!Array.isArray(vcts) || vcts.length === 0)
      report(source, obj, "spec.volumeClaimTemplates", "Strata rule: every StatefulSet keeps its state on PersistentVolumeClaims");
    for (const [i, v] of (vcts ?? []).entries()) {
      if (!v?.spec?.resources?.requests?.storage)
        report(source, obj, `spec.volumeClaimTemplates[${i}].spec.resources.requests.storage`, "required: the size of the volume");
    }
    const svcName = obj.spec?.serviceName;
    if (svcName) {
      const svc = findObject(objects, "Service", svcName, obj);
      if (!svc) report(source, obj, "spec.serviceName", `governing Service ${svcName} is not in this render`);
      else if (svc.spec?.clusterIP !== "None") report(source, obj, "spec.serviceName", `governing Service ${svcName} must be headless (clusterIP: None)`);
    }
  }

  const pdb = objects.find(
    (o) => o.kind === "PodDisruptionBudget" && sameNamespace(o, obj) && labelSelectorMatches(o.spec?.selector, labels),
  );
  if (!pdb) report(source, obj, "", "Strata rule: every Deployment/StatefulSet has a PodDisruptionBudget");
}

// ---------------------------------------------------------------- services, PDBs, ingresses, config

function podsSelectedBy(objects, svc) {
  return objects.filter((o) => podTemplateOf(o) && sameNamespace(o, svc) && selectorMatches(svc.spec?.selector, podLabels(o)));
}

function checkService(source, svc, objects) {
  if (svc.spec?.type === "ExternalName") return;
  const sel = svc.spec?.selector;
  if (!sel || Object.keys(sel).length === 0) return; // endpoints managed elsewhere
  const pods = podsSelectedBy(objects, svc);
  if (pods.length === 0) {
    report(source, svc, "spec.selector", "selects no pod template in this render");
    return;
  }
  for (const [i, p] of (svc.spec?.ports ?? []).entries()) {
    const t = p?.targetPort;
    if (typeof t !== "string" || /^\d+$/.test(t)) continue;
    const declared = pods.some((o) =>
      (podTemplateOf(o).spec?.containers ?? []).some((c) => (c?.ports ?? []).some((cp) => cp?.name === t)),
    );
    if (!declared) report(source, svc, `spec.ports[${i}].targetPort`, `no selected container has a port named ${t}`);
  }
}

function checkPdb(source, pdb, objects) {
  const s = pdb.spec ?? {};
  if (s.minAvailable !== undefined && s.maxUnavailable !== undefined)
    report(source, pdb, "spec", "minAvailable and maxUnavailable are mutually exclusive");
  const targets = objects.filter((o) => podTemplateOf(o) && sameNamespace(o, pdb) && labelSelectorMatches(s.selector, podLabels(o)));
  if (targets.length === 0) report(source, pdb, "spec.selector", "selects no pod template in this render");
  for (const t of targets) {
    const replicas = t.spec?.replicas ?? 1;
    if (typeof s.minAvailable === "number" && s.minAvailable >= replicas)
      report(source, pdb, "spec.minAvailable", `${describe(t)} has ${replicas} replica(s): no pod could ever be evicted (node drains would hang)`);
  }
}

function checkIngress(source, ing, objects) {
  const check = (backend, at) => {
    const svcRef = backend?.service;
    if (!svcRef?.name) return;
    const svc = findObject(objects, "Service", svcRef.name, ing);
    if (!svc) {
      report(source, ing, `${at}.service.name`, `Service ${svcRef.name} is not in this render`);
      return;
    }
    const ports = svc.spec?.ports ?? [];
    if (svcRef.port?.name !== undefined && !ports.some((p) => p?.name === svcRef.port.name))
      report(source, ing, `${at}.service.port.name`, `Service ${svcRef.name} has no port named ${svcRef.port.name}`);
    if (svcRef.port?.number !== undefined && !ports.some((p) => p?.port === svcRef.port.number))
      report(source, ing, `${at}.service.port.number`, `Service ${svcRef.name} has no port ${svcRef.port.number}`);
  };
  if (ing.spec?.defaultBackend) check(ing.spec.defaultBackend, "spec.defaultBackend");
  const hosts = new Set();
  for (const [i, rule] of (ing.spec?.rules ?? []).entries()) {
    if (rule?.host) hosts.add(rule.host);
    for (const [j, path] of (rule?.http?.paths ?? []).entries())
      check(path?.backend, `spec.rules[${i}].http.paths[${j}].backend`);
  }
  for (const [i, t] of (ing.spec?.tls ?? []).entries()) {
    for (const [j, h] of (t?.hosts ?? []).entries())
      if (!hosts.has(h)) report(source, ing, `spec.tls[${i}].hosts[${j}]`, `${h} is not the host of any rule`);
  }
}

function checkConfigMap(source, cm) {
  for (const [k, v] of Object.entries(cm.data ?? {})) {
    if (typeof v === "string" && v.includes("REPLACE-ME"))
      report(source, cm, `data[${JSON.stringify(k)}]`, "placeholder left in the configuration (an overlay must set it)");
  }
}

// ---------------------------------------------------------------- Strimzi

// The fields of Strimzi's resources that Strata relies on, checked by hand on
// top of the CRD schema (which knows types, not Strata's durability needs).
function asNumber(v) {
  return typeof v === "number" ? v : typeof v === "string" && /^-?\d+$/.test(v) ? Number(v) : NaN;
}

function clusterLabel(obj) {
  return obj.metadata?.labels?.["strimzi.io/cluster"];
}

function checkStrimziMember(source, obj, objects) {
  const cluster = clusterLabel(obj);
  if (typeof cluster !== "string" || cluster === "") {
    report(source, obj, 'metadata.labels["strimzi.io/cluster"]', "required: names the Kafka cluster that manages it");
    return;
  }
  const kafkas = objects.filter((o) => o.kind === "Kafka" && STRIMZI_GROUPS.has(o.apiVersion?.split("/")[0]));
  if (kafkas.length > 0 && !kafkas.some((k) => k.metadata?.name === cluster && sameNamespace(k, obj)))
    report(source, obj, 'metadata.labels["strimzi.io/cluster"]', `no Kafka named ${cluster} in this namespace of the render`);
}

function checkKafkaTopic(source, topic, objects) {
  checkStrimziMember(source, topic, objects);
  const s = topic.spec ?? {};
  const at = "spec";
  const partitions = s.partitions;
  if (!Number.isInteger(partitions) || partitions < 1) report(source, topic, `${at}.partitions`, "required: an integer of at least 1");
  const replicas = s.replicas;
  if (!Number.isInteger(replicas) || replicas < 1) report(source, topic, `${at}.replicas`, "required: an integer of at least 1");
  const config = s.config ?? {};
  if (typeof config !== "object" || Array.isArray(config)) {
    report(source, topic, `${at}.config`, "must be a map of Kafka topic properties");
    return;
  }
  const name = s.topicName ?? topic.metadata?.name;
  if (name !== EVENT_TOPIC) return;
  // The event log is the system of record.
  const expect = (key, value, why) => {
    if (config[key] !== value)
      report(source, topic, `${at}.config[${JSON.stringify(key)}]`, `must be ${JSON.stringify(value)} (${why}), is ${JSON.stringify(config[key])}`);
  };
  expect("retention.ms", "-1", "the log is kept forever");
  expect("retention.bytes", "-1", "the log is kept forever");
  expect("min.insync.replicas", "2", "a write is acknowledged by two replicas");
  const policy = String(config["cleanup.policy"] ?? "delete");
  if (policy.split(",").map((p) => p.trim()).includes("compact"))
    report(source, topic, `${at}.config["cleanup.policy"]`, "must not compact: compaction drops older events of an aggregate");
  if (Number.isInteger(replicas) && replicas < 3)
    report(source, topic, `${at}.replicas`, `must be at least 3 (is ${replicas})`);
  const isr = asNumber(config["min.insync.replicas"]);
  if (Number.isInteger(replicas) && !Number.isNaN(isr) && isr >= replicas)
    report(source, topic, `${at}.config["min.insync.replicas"]`, `must be below spec.replicas (${replicas}), or one broker down stops every write`);
}

function persistentStorage(storage) {
  if (!storage || typeof storage !== "object") return false;
  if (storage.type === "persistent-claim") return true;
  if (storage.type === "jbod")
    return Array.isArray(storage.volumes) && storage.volumes.length > 0 && storage.volumes.every((v) => v?.type === "persistent-claim");
  return false;
}

function checkKafka(source, kafka, objects) {
  const k = kafka.spec?.kafka;
  if (!k || typeof k !== "object") {
    report(source, kafka, "spec.kafka", "required field is missing");
    return;
  }
  const listeners = Array.isArray(k.listeners) ? k.listeners : [];
  if (listeners.length === 0) report(source, kafka, "spec.kafka.listeners", "required: at least one listener");
  if (!listeners.some((l) => l?.tls === true && l?.port === 9093))
    report(source, kafka, "spec.kafka.listeners", "Strata rule: a TLS listener on port 9093 (the services' bootstrap)");
  for (const [i, l] of listeners.entries()) {
    if (l?.tls !== true) report(source, kafka, `spec.kafka.listeners[${i}].tls`, "Strata rule: every listener uses TLS");
  }
  const config = k.config ?? {};
  const rf = asNumber(config["default.replication.factor"]);
  if (!(rf >= 3)) report(source, kafka, 'spec.kafka.config["default.replication.factor"]', `must be at least 3 (is ${JSON.stringify(config["default.replication.factor"])})`);
  const isr = asNumber(config["min.insync.replicas"]);
  if (!(isr >= 2)) report(source, kafka, 'spec.kafka.config["min.insync.replicas"]', `must be at least 2 (is ${JSON.stringify(config["min.insync.replicas"])})`);

  // Brokers and storage: in KafkaNodePools (Strimzi >= 0.46, kafka.strimzi.io/v1)
  // or, before node pools, in spec.kafka itself.
  const pools = objects.filter(
    (o) => o.kind === "KafkaNodePool" && clusterLabel(o) === kafka.metadata?.name && sameNamespace(o, kafka),
  );
  let brokers;
  if (pools.length > 0) {
    brokers = pools
      .filter((p) => (p.spec?.roles ?? []).includes("broker"))
      .reduce((n, p) => n + (Number.isInteger(p.spec?.replicas) ? p.spec.replicas : 0), 0);
    for (const p of pools) {
      if (!persistentStorage(p.spec?.storage))
        report(source, p, "spec.storage", "Strata rule: Kafka keeps the log on persistent-claim volumes");
    }
  } else if (k.replicas !== undefined || k.storage !== undefined) {
    brokers = Number.isInteger(k.replicas) ? k.replicas : 0;
    if (!persistentStorage(k.storage))
      report(source, kafka, "spec.kafka.storage", "Strata rule: Kafka keeps the log on persistent-claim volumes");
  } else {
    report(source, kafka, "spec.kafka", "no KafkaNodePool labelled strimzi.io/cluster=" + kafka.metadata?.name + " in this render, and no spec.kafka.replicas");
    return;
  }
  if (brokers < 3) report(source, kafka, "", `Strata rule: at least 3 brokers (has ${brokers})`);
  if (Number.isFinite(rf) && rf > brokers) report(source, kafka, 'spec.kafka.config["default.replication.factor"]', `${rf} exceeds the ${brokers} brokers`);
}

// ---------------------------------------------------------------- main

async function validateSet(source, objects) {
  const seen = new Map();
  for (const obj of objects) {
    const id = `${obj.apiVersion} ${describe(obj)}`;
    if (seen.has(id)) report(source, obj, "", "defined twice in this render");
    seen.set(id, true);
  }
  for (const obj of objects) {
    await checkSchema(source, obj);
    checkName(source, obj);
    checkMetadata(source, obj, obj.metadata, "metadata");
  }
  for (const obj of objects) {
    if (podTemplateOf(obj)) checkWorkload(source, obj, objects);
    const group = typeof obj.apiVersion === "string" && obj.apiVersion.includes("/") ? obj.apiVersion.split("/")[0] : "";
    switch (obj.kind) {
      case "Service":
        if (obj.apiVersion === "v1") checkService(source, obj, objects);
        break;
      case "PodDisruptionBudget":
        checkPdb(source, obj, objects);
        break;
      case "Ingress":
        checkIngress(source, obj, objects);
        break;
      case "ConfigMap":
        checkConfigMap(source, obj);
        break;
    }
    if (STRIMZI_GROUPS.has(group)) {
      if (obj.kind === "Kafka") checkKafka(source, obj, objects);
      else if (obj.kind === "KafkaTopic") checkKafkaTopic(source, obj, objects);
      else if (obj.kind === "KafkaUser" || obj.kind === "KafkaNodePool") checkStrimziMember(source, obj, objects);
    }
  }
}

let total = 0;
for (const file of files) {
  const { source, objects } = readDocuments(file);
  total += objects.length;
  await validateSet(source, objects);
  const kinds = [...new Set(objects.map((o) => o.kind))].join(", ");
  const mine = problems.filter((p) => p.startsWith(source + ":")).length;
  if (mine === 0 && objects.length > 0) console.log(`${source}: ${objects.length} objects valid (${kinds || "none"})`);
}
if (total === 0 && problems.length === 0) problems.push(`${files.join(", ")}: no Kubernetes objects`);
for (const p of problems) console.log(p);
process.exit(problems.length > 0 ? 1 : 0);
