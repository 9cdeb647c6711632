// The real server (src/main.ts) in a child process, for kill -9 tests: started with the
// environment given, resolved once its ready line (JSON, stdout) names the address, and killed
// when the test ends however it ends.
import { spawn, type ChildProcess } from 'node:child_process';

export interface Running {
  child: ChildProcess;
  base: string;
  stdout: () => string;
}

/** `readyMs`: how long a start may take before the test fails. */
export function serverProcesses(t: { teardown(fn: () => unknown): void }, readyMs = 90_000): (env: Record<string, string>) => Promise<Running> {
  const servers = new Set<ChildProcess>();
  t.teardown(() => { for (const c of servers) c.kill('SIGKILL'); });
  return (env) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { PATH: process.env.PATH ?? '', PORT: '0', ...env },
      // stderr through this process, not inherited: a server left behind by a killed test run must
      // not hold tap's pipe open (tap then waits for it for ever).
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    servers.add(child);
    child.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
    let out = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`no ready line within ${readyMs / 1000} s; stdout: ${out.slice(0, 500)}`));
      }, readyMs);
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /"listening":"(http:\/\/[^"]+)"[^\n]*"msg":"Flint is ready"/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve({ child, base: `${m[1]}/fhir`, stdout: () => out });
        }
      });
      child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out.slice(0, 500)}`)));
    });
  };
}
