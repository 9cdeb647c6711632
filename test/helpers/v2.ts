// HL7 v2 test material: realistic ORU/ADT messages in several labs' styles, and a small MLLP
// client over a real socket that collects ACKs.
import { connect, type Socket } from 'node:net';

const seg = (...lines: string[]): string => `${lines.join('\r')}\r`;

/** Lab A: v2.5.1, LOINC + UCUM, assigning authority as HD, filler with namespace, NTEs. */
export const LAB_A = seg(
  'MSH|^~\\&|ACMELAB|ACME^2.16.840.1.113883.3.9999^ISO|FLINT|CLINIC|20240301083000+0100||ORU^R01^ORU_R01|A0001|P|2.5.1|||AL|NE',
  'PID|1||MRN123^^^CLINIC&2.16.840.1.113883.3.1234&ISO^MR||Doe^Jane^Q^^Dr||19800215|F|||1 Main St^^Springfield^IL^62701^USA^H||^PRN^PH^^^217^5551234',
  'OBR|1|ORD-77^CLINIC|F-1001^ACME|24323-8^Comprehensive metabolic panel^LN|||20240301073000+0100|||||||||||||||20240301082900+0100||CH|F',
  'NTE|1||Specimen slightly hemolyzed',
  'OBX|1|NM|2345-7^Glucose^LN||182|mg/dL^mg/dL^UCUM|70-99|H|||F|||20240301073000+0100',
  'OBX|2|NM|2951-2^Sodium^LN||140|mmol/L^mmol/L^UCUM|136-145|N|||F',
  'NTE|1||Verified by repeat analysis',
  'OBX|3|SN|2160-0^Creatinine^LN||<^0.3|mg/dL^mg/dL^UCUM|0.6-1.2|L|||F',
  'OBX|4|ST|8251-1^Service comment^LN||Fasting sample||||||F',
  'OBX|5|CWE|882-1^ABO and Rh group^LN||278149003^Blood group A Rh(D) positive^SCT||||||F',
  'OBX|6|SN|13945-1^Erythrocytes [#/area] in Urine sediment by Microscopy high power field^LN||^10^-^20|{RBCs}/[HPF]^RBC per HPF^UCUM|<5|A|||P',
);

/** Lab B: v2.3, CE, local codes, units without coding system, no assigning authority, LF line ends. */
export const LAB_B = [
  'MSH|^~\\&|LIS|NORTHLAB|FLINT|CLINIC|202403021015||ORU^R01|B-555|P|2.3',
  'PID|||778899||Smith^John||19721103|M',
  'OBR|1||NL-42|CBC^Complete blood count^L|||202403020900',
  'OBX|1|NM|WBC^White cells^L||7.2|10*9/L|4.0-11.0|N|||F',
  'OBX|2|NM|HGB^Hemoglobin^L||13.1|g/dL|13.5-17.5|L|||F',
  'OBX|3|TX|COM^Comment^L||Result checked\\.br\\second line||||||F',
  '',
].join('\n');

/** Two orders in one message. */
export const MULTI_OBR = seg(
  'MSH|^~\\&|ACMELAB|ACME|FLINT|CLINIC|20240303100000||ORU^R01^ORU_R01|A0002|P|2.5.1',
  'PID|1||MRN123^^^CLINIC&2.16.840.1.113883.3.1234&ISO^MR||Doe^Jane',
  'OBR|1||F-2001^ACME|2093-3^Cholesterol^LN|||20240303090000',
  'OBX|1|NM|2093-3^Cholesterol^LN||5.2|mmol/L^^UCUM|<5.2|H|||F',
  'OBR|2||F-2002^ACME|4548-4^Hemoglobin A1c^LN|||20240303090000',
  'OBX|1|NM|4548-4^Hemoglobin A1c^LN||6.1|%^^UCUM|<5.7|H|||F',
);

/** A correction of Lab A's glucose (same filler order number and OBX set id). */
export const LAB_A_CORRECTION = seg(
  'MSH|^~\\&|ACMELAB|ACME|FLINT|CLINIC|20240301120000+0100||ORU^R01^ORU_R01|A0003|P|2.5.1',
  'PID|1||MRN123^^^CLINIC&2.16.840.1.113883.3.1234&ISO^MR||Doe^Jane',
  'OBR|1|ORD-77^CLINIC|F-1001^ACME|24323-8^Comprehensive metabolic panel^LN|||20240301073000+0100|||||||||||||||20240301115900+0100||CH|C',
  'OBX|1|NM|2345-7^Glucose^LN||128|mg/dL^mg/dL^UCUM|70-99|H|||C|||20240301073000+0100',
);

export const ADT_A04 = seg(
  'MSH|^~\\&|REG|CLINIC|FLINT|CLINIC|20240305090000||ADT^A04^ADT_A01|R-1|P|2.5',
  'EVN|A04|20240305090000',
  'PID|1||P-900^^^CLINIC^MR||Roe^Richard||19550505|M|||5 Elm St^^Salem^OR^97301',
  'PV1|1|O',
);

export const ADT_A08 = seg(
  'MSH|^~\\&|REG|CLINIC|FLINT|CLINIC|20240306090000||ADT^A08^ADT_A01|R-2|P|2.5',
  'EVN|A08|20240306090000',
  'PID|1||P-900^^^CLINIC^MR||Roe^Richard^T||19550505|M|||7 Oak St^^Salem^OR^97301',
  'PV1|1|O',
);

/** A client over one socket: send raw bytes, wait for ACK frames (as text). */
export class MllpClient {
  private buf = Buffer.alloc(0);
  private readonly acks: string[] = [];
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (;;) {
        const start = this.buf.indexOf(0x0b);
        const end = this.buf.indexOf(Buffer.from([0x1c, 0x0d]));
        if (start < 0 || end < 0) break;
        this.acks.push(this.buf.subarray(start + 1, end).toString('utf8'));
        this.buf = this.buf.subarray(end + 2);
      }
      this.wake();
    });
    socket.on('close', () => { this.closed = true; this.wake(); });
    socket.on('error', () => undefined);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  static open(port: number): Promise<MllpClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1' }, () => resolve(new MllpClient(s)));
      s.once('error', reject);
    });
  }

  write(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  /** Waits until `n` ACKs have arrived in all (or the socket closes, or the timeout passes). */
  async acksUntil(n: number, timeoutMs = 10_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.acks.length < n && !this.closed && Date.now() < deadline) {
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return [...this.acks];
  }

  close(): void {
    this.socket.destroy();
  }
}

/** MSA-1 and MSA-3 of an ACK. */
export function msa(ack: string): { code: string; control: string; text: string; err?: string } {
  const lines = ack.split('\r');
  const m = (lines.find((l) => l.startsWith('MSA|')) ?? '').split('|');
  const err = lines.find((l) => l.startsWith('ERR|'));
  return { code: m[1] ?? '', control: m[2] ?? '', text: m[3] ?? '', ...(err ? { err } : {}) };
}

/** A batch (BHS … BTS) of `messages`, with BTS-1 = `count` (their number unless given), in a file envelope when `file`. */
export function batchOf(messages: readonly string[], opts: { count?: string; file?: boolean; control?: string } = {}): string {
  const lines = [
    ...(opts.file ? ['FHS|^~\\&|ACMELAB|ACME|FLINT|CLINIC|20240301090000||||F-77'] : []),
    `BHS|^~\\&|ACMELAB|ACME|FLINT|CLINIC|20240301090000||||${opts.control ?? 'B-9'}`,
    ...messages.flatMap((m) => m.split(/\r\n|\r|\n/).filter((l) => l !== '')),
    `BTS|${opts.count ?? String(messages.length)}`,
    ...(opts.file ? ['FTS|1'] : []),
  ];
  return `${lines.join('\r')}\r`;
}

/** The MSA of each ACK inside an acknowledgement batch, and its envelope segments. */
export function batchAcks(frame: string): { envelope: string[]; acks: ReturnType<typeof msa>[] } {
  const lines = frame.split('\r').filter((l) => l !== '');
  const acks = lines.map((l, i) => (l.startsWith('MSH|') ? msa(lines.slice(i, lines.findIndex((x, j) => j > i && !/^(MSA|ERR)\|/.test(x)) >>> 0).join('\r')) : undefined))
    .filter((a): a is ReturnType<typeof msa> => a !== undefined);
  return { envelope: lines.filter((l) => /^(FHS|BHS|BTS|FTS)\|/.test(l)), acks };
}
