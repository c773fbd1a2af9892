/** A description of the machine a benchmark ran on, recorded beside every result. */

import { execFileSync } from 'node:child_process'
import { cpus, totalmem } from 'node:os'

export interface MachineInfo {
  readonly date: string
  readonly cpuModel: string
  readonly cores: number
  readonly memoryGiB: number
  readonly node: string
  readonly kernel: string
}

export function machineInfo(): MachineInfo {
  let kernel = 'unknown'
  try {
    kernel = execFileSync('uname', ['-sr']).toString().trim()
  } catch {
    // uname is missing on this platform; the rest still identifies the machine.
  }
  return {
    date: new Date().toISOString(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    kernel,
  }
}

export function machineLine(info: MachineInfo): string {
  return `${info.cores} cores (${info.cpuModel}), ${info.memoryGiB} GiB, ${info.kernel}, Node ${info.node}, ${info.date}`
}
