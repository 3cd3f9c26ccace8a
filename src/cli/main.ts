#!/usr/bin/env node
console.log('diskpick');
