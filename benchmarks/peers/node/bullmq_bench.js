// @ts-check
/**
 * BullMQ's side of the peer benchmarks (driven by benchmarks/peers/systems/bullmq_app.py).
 *
 *   node bullmq_bench.js worker     one Worker on the queue "bench": `concurrency` from
 *                                   BENCH_CONCURRENCY, a no-op processor per job name, completed
 *                                   jobs kept for an hour (`removeOnComplete: {age: 3600}`)
 *   node bullmq_bench.js producer   the producer roles: one JSON request a line on stdin, one JSON
 *                                   reply a line on stdout ({"value": ...} or {"error": "..."})
 *
 * Both connect to BENCH_REDIS_URL with ioredis. Every stamp is `now()`: seconds since the epoch,
 * below the millisecond, as Python's time.time() gives them to the other systems' tasks.
 */
'use strict';

const readline = require('node:readline');
const { performance } = require('node:perf_hooks');
const { setTimeout: sleep } = require('node:timers/promises');
const { Queue, QueueEvents, Worker } = require('bullmq');
const IORedis = require('ioredis');

const NAME = 'bench';
const CHUNK = 1000; // the driver's bulk size for every system
const connection = { url: process.env.BENCH_REDIS_URL };

/** @typedef {{to: string, subject: string, n: number}} Email */

/** @returns {number} */
function now() {
  return (performance.timeOrigin + performance.now()) / 1000;
}

/** @type {IORedis | undefined} */
let client; // W6's own client, made on the first lookup

/**
 * The driver's tasks, as job names: what each returns is stored as the job's `returnvalue`.
 * @type {Record<string, (data: any) => Promise<number | null | [number, string]>>}
 */
const TASKS = {
  noop: async () => now(),
  nap: async (/** @type {{seconds: number}} */ data) => {
    await sleep(data.seconds * 1000);
    return now();
  },
  send: async () => null,
  lookup: async (/** @type {{key: string}} */ data) => {
    client ??= new IORedis(process.env.BENCH_REDIS_URL ?? '');
    await client.get(data.key);
    return now();
  },
  echo: async (/** @type {{blob: string}} */ data) => [now(), data.blob],
};

/**
 * The names of each task's arguments: the driver sends positional ones.
 * @type {Record<string, string[]>}
 */
const PARAMETERS = {
  noop: [], nap: ['seconds'], send: ['to', 'subject', 'n'], lookup: ['key'], echo: ['blob'],
};

function work() {
  const worker = new Worker(NAME, async (job) => TASKS[job.name](job.data), {
    connection,
    concurrency: Number(process.env.BENCH_CONCURRENCY ?? '10'),
    removeOnComplete: { age: 3600 },
  });
  worker.on('error', (err) => console.error(err));
  worker.on('failed', (job, err) => console.error(`job ${job?.id} failed:`, err));
}

/**
 * @param {number} i
 * @returns {Email}
 */
function email(i) {
  return { to: 'a@example.com', subject: 'Welcome', n: i };
}

class Producer {
  constructor() {
    /** @type {Queue} */
    this.queue = new Queue(NAME, { connection });
  }

  /** Ready, with the queue's meta hash written (`getVersion` waits for the write). */
  async open() {
    await this.queue.getVersion();
  }

  /** After the driver's FLUSHALL: a new Queue writes its meta hash back, as a deployed queue has it. */
  async reset() {
    await this.queue.close();
    this.queue = new Queue(NAME, { connection });
    await this.open();
  }

  /**
   * Jobs of one task, `Queue.add` for one (what a caller does for one job), else `addBulk`.
   * @param {string} task
   * @param {unknown[][]} args
   * @returns {Promise<(string | undefined)[]>}
   */
  async add(task, args) {
    const names = PARAMETERS[task];
    const data = args.map((values) => Object.fromEntries(names.map((name, i) => [name, values[i]])));
    if (data.length === 1) {
      return [(await this.queue.add(task, data[0])).id];
    }
    return (await this.queue.addBulk(data.map((d) => ({ name: task, data: d })))).map((job) => job.id);
  }

  /**
   * W1: seconds to add `n` emails one at a time, each `add` awaited before the next.
   * @param {number} n
   */
  async sends(n) {
    const began = performance.now();
    for (let i = 0; i < n; i++) {
      await this.queue.add('send', email(i));
    }
    return (performance.now() - began) / 1000;
  }

  /**
   * W1 at once: seconds to add `n` emails from `producers` concurrent loops, each `add` awaited
   * before the loop's next.
   * @param {number} n
   * @param {number} producers
   */
  async sendsAtOnce(n, producers) {
    const began = performance.now();
    const loop = async (/** @type {number} */ first) => {
      for (let i = first; i < n; i += producers) {
        await this.queue.add('send', email(i));
      }
    };
    await Promise.all(Array.from({ length: producers }, (_, p) => loop(p)));
    return (performance.now() - began) / 1000;
  }

  /**
   * W1 bulk: seconds to add `n` emails with `addBulk`, CHUNK at a time.
   * @param {number} n
   */
  async sendMany(n) {
    const began = performance.now();
    for (let base = 0; base < n; base += CHUNK) {
      const jobs = [];
      for (let i = base; i < Math.min(n, base + CHUNK); i++) {
        jobs.push({ name: 'send', data: email(i) });
      }
      await this.queue.addBulk(jobs);
    }
    return (performance.now() - began) / 1000;
  }

  /**
   * W3: `n` times, add one no-op job and wait for it with `waitUntilFinished` (QueueEvents),
   * 5 ms apart; milliseconds from before the add to the job's start and to its result seen.
   * @param {number} n
   */
  async pickups(n) {
    const events = new QueueEvents(NAME, { connection });
    try {
      await events.waitUntilReady();
      /** @type {number[]} */
      const start = [];
      /** @type {number[]} */
      const seen = [];
      for (let i = 0; i < n; i++) {
        const t0 = now();
        const job = await this.queue.add('noop', {});
        const started = await job.waitUntilFinished(events, 30_000);
        seen.push((now() - t0) * 1000);
        start.push((started - t0) * 1000);
        await sleep(5);
      }
      return { start, seen };
    } finally {
      await events.close();
    }
  }

  /**
   * @param {{op: string, task?: string, args?: unknown[][], n?: number, producers?: number}} request
   * @returns {Promise<unknown>}
   */
  async handle(request) {
    const n = request.n ?? 0;
    switch (request.op) {
      case 'add':
        return this.add(request.task ?? '', request.args ?? []);
      case 'sends':
        return this.sends(n);
      case 'sends_at_once':
        return this.sendsAtOnce(n, request.producers ?? 1);
      case 'send_many':
        return this.sendMany(n);
      case 'pickups':
        return this.pickups(n);
      case 'reset':
        return this.reset();
      default:
        throw new Error(`unknown request ${request.op}`);
    }
  }
}

async function produce() {
  const producer = new Producer();
  await producer.open();
  /** @param {unknown} reply */
  const send = (reply) => process.stdout.write(`${JSON.stringify(reply)}\n`);
  send({
    value: {
      bullmq: require('bullmq/package.json').version,
      ioredis: require('ioredis/package.json').version,
      node: process.versions.node,
    },
  });
  for await (const line of readline.createInterface({ input: process.stdin })) {
    try {
      send({ value: (await producer.handle(JSON.parse(line))) ?? null });
    } catch (err) {
      send({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  }
  await producer.queue.close();
}

const role = process.argv[2];
if (role === 'worker') {
  work();
} else if (role === 'producer') {
  produce().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  console.error('usage: node bullmq_bench.js worker|producer');
  process.exit(2);
}
