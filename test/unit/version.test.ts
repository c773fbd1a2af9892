/** Goal: the version murmur reports is the package's version. Method: compare with package.json. */

import { readFileSync } from 'node:fs'
import { expect, it } from 'vitest'
import { VERSION } from '../../src/version.js'

it('VERSION matches package.json', () => {
  const manifest = JSON.parse(
    readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
  ) as { version: string }
  expect(VERSION).toBe(manifest.version)
})
