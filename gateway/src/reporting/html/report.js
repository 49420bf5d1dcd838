(function(){"use strict";
var d=document;d.documentElement.classList.add("js");
var tabs=[].slice.call(d.querySelectorAll("section.tab")),links=[].slice.call(d.querySelectorAll("nav.tabs a"));
function isTab(id){return tabs.some(function(t){return t.id===id})}
function show(id){if(!isTab(id))id=tabs.length?tabs[0].id:"";
tabs.forEach(function(t){t.classList.toggle("active",t.id===id)});
links.forEach(function(a){if(a.getAttribute("href")==="#"+id)a.setAttribute("aria-current","page");else a.removeAttribute("aria-current")})}
links.forEach(function(a){a.addEventListener("click",function(e){e.preventDefault();var h=a.getAttribute("href");
try{history.replaceState(null,"",h)}catch(_){}show(h.slice(1))})});
addEventListener("hashchange",function(){var h=location.hash.slice(1);if(isTab(h))show(h)});
var h0=location.hash.slice(1);show(h0);
if(isTab(h0)){scrollTo(0,0);addEventListener("load",function(){setTimeout(function(){scrollTo(0,0)},0)})}
function fmt(n){return n.toLocaleString("en-US")}
var fd=d.getElementById("f-dept"),fp=d.getElementById("f-product"),fr=d.getElementById("f-role"),fq=d.getElementById("f-q"),fc=d.getElementById("f-count");
var tables=[].slice.call(d.querySelectorAll("table.filterable"));
function apply(){var dv=fd.value,pv=fp.value?"|"+fp.value+"|":"",rv=fr.value?"|"+fr.value+"|":"",q=fq.value.trim().toLowerCase();
tables.forEach(function(t){var rows=t.tBodies[0].rows,n=0;
for(var i=0;i<rows.length;i++){var r=rows[i],s=r.dataset;
var ok=(!dv||(dv==="~none"?!s.dept:s.dept===dv))&&(!pv||(s.products||"").indexOf(pv)>=0)&&(!rv||(s.roles||"").indexOf(rv)>=0)&&(!q||(s.q||"").indexOf(q)>=0);
r.hidden=!ok;if(ok)n++}
var c=d.getElementById(t.id+"-count");if(c)c.textContent=fmt(n)+" of "+fmt(rows.length)+" "+c.getAttribute("data-unit");
if(t.id==="t-learners"&&fc)fc.textContent=fmt(n)+" of "+fmt(rows.length)+" learners"})}
if(fd&&fp&&fr&&fq){[fd,fp,fr].forEach(function(e){e.addEventListener("change",apply)});
var timer;fq.addEventListener("input",function(){clearTimeout(timer);timer=setTimeout(apply,120)});
d.getElementById("f-reset").addEventListener("click",function(){fd.value="";fp.value="";fr.value="";fq.value="";apply()})}
function key(c,num){var v=c.getAttribute("data-v");if(v===null)v=c.textContent;
if(num){var x=parseFloat(v.replace(/[^0-9.\-]/g,""));return isNaN(x)?-Infinity:x}return v.toLowerCase()}
[].forEach.call(d.querySelectorAll("table.sortable thead th"),function(th){var b=th.querySelector("button");if(!b)return;
b.addEventListener("click",function(){var tr=th.parentNode,idx=[].indexOf.call(tr.children,th),tb=th.closest("table").tBodies[0],
num=th.classList.contains("num"),asc=th.getAttribute("aria-sort")!=="ascending";
[].forEach.call(tr.children,function(h){h.removeAttribute("aria-sort")});th.setAttribute("aria-sort",asc?"ascending":"descending");
var rows=[].map.call(tb.rows,function(r){return[key(r.cells[idx],num),r]});
rows.sort(function(a,b){var o=a[0]<b[0]?-1:a[0]>b[0]?1:0;return asc?o:-o});
var f=d.createDocumentFragment();rows.forEach(function(p){f.appendChild(p[1])});tb.appendChild(f)})})})();
