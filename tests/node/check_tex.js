// Typesets TeX with MathJax 3 as Jupyter does, and reports every expression it cannot read.
// stdin: {"preamble": "<TeX that defines the macros>", "expressions": [{"where": "...", "tex": "...",
// "display": true}]}. stdout: a JSON list of {"where", "tex", "error"}; empty when all are fine.
// Undefined control sequences are errors (no "noundefined" package), as they would show in red.
const {mathjax} = require('mathjax-full/js/mathjax.js');
const {TeX} = require('mathjax-full/js/input/tex.js');
const {AllPackages} = require('mathjax-full/js/input/tex/AllPackages.js');
const {liteAdaptor} = require('mathjax-full/js/adaptors/liteAdaptor.js');
const {RegisterHTMLHandler} = require('mathjax-full/js/handlers/html.js');
const {STATE} = require('mathjax-full/js/core/MathItem.js');

const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
RegisterHTMLHandler(liteAdaptor());
const packages = AllPackages.filter((name) => !['noundefined', 'noerrors', 'bussproofs'].includes(name));
const tex = new TeX({packages, formatError: (jax, error) => { throw error; }});
const document = mathjax.document('', {InputJax: tex});
const typeset = (source, display) => document.convert(source, {display, end: STATE.CONVERT});

const problems = [];
try {
  typeset(input.preamble, false);
} catch (error) {
  problems.push({where: 'preamble', tex: input.preamble, error: error.message});
}
for (const {where, tex: source, display} of input.expressions) {
  try {
    typeset(source, display);
  } catch (error) {
    problems.push({where, tex: source, error: error.message});
  }
}
process.stdout.write(JSON.stringify(problems));
