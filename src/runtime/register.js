// `node --import ./src/runtime/register.js file.ts`: the polyfill, then TypeScript through tsx.
import './polyfill.js'
import { register } from 'tsx/esm/api'

register()
