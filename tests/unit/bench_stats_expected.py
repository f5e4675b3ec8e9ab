"""Computes the expected values of tests/unit/test_bench_stats.c independently of the C code,
with the Python standard library only (no scipy): type-7 quantiles, Mann-Whitney with tie and
continuity correction, SplitMix64 and the percentile bootstrap of a ratio of medians as
documented in src/bench/stats.h. Run: python3 tests/unit/bench_stats_expected.py"""
import math, statistics
M=(1<<64)-1
def sm(state):
    state=(state+0x9e3779b97f4a7c15)&M
    z=state
    z=((z^(z>>30))*0xbf58476d1ce4e5b9)&M
    z=((z^(z>>27))*0x94d049bb133111eb)&M
    return state, z^(z>>31)
def med(a):
    a=sorted(a); n=len(a)
    if n%2: return a[n//2]
    m=a[(n-1)//2]; return m+0.5*(a[n//2]-m)
def q7(a,q):
    n=len(a)
    if q<=0: return a[0]
    if q>=1: return a[-1]
    h=(n-1)*q; i=math.floor(h)
    if i+1>=n: return a[-1]
    return a[i]+(h-i)*(a[i+1]-a[i])
def boot(base,cand,R,conf,seed):
    st=seed; rs=[]
    for k in range(R):
        sb=[];sc=[]
        for i in range(len(base)):
            st,r=sm(st); sb.append(base[(r*len(base))>>64])
        for i in range(len(cand)):
            st,r=sm(st); sc.append(cand[(r*len(cand))>>64])
        rs.append(med(sc)/med(sb))
    rs.sort()
    return med(cand)/med(base), q7(rs,(1-conf)/2), q7(rs,(1+conf)/2)
def mw(x,y):
    allv=sorted([(v,0) for v in x]+[(v,1) for v in y])
    n=len(allv); rx=0; ties=0; i=0
    while i<n:
        j=i+1
        while j<n and allv[j][0]==allv[i][0]: j+=1
        t=j-i; avg=(i+1+j)/2
        rx+=sum(avg for k in range(i,j) if allv[k][1]==0)
        ties+=t**3-t; i=j
    nx,ny=len(x),len(y)
    U=rx-nx*(nx+1)/2
    var=nx*ny/12*((n+1)-ties/(n*(n-1)))
    d=max(0,abs(U-nx*ny/2)-0.5)
    return U, math.erfc(d/math.sqrt(var)/math.sqrt(2))
x=[3.1,1.2,5.5,2.2,4.8,9.0,7.7,6.1,0.4,8.3]
s=sorted(x)
print("quantiles", [repr(q7(s,q)) for q in (0.5,0.9,0.99,0.999,0.25)])
print("stat.quantiles inclusive n=4:", statistics.quantiles(x,n=4,method="inclusive"), "n=10", statistics.quantiles(x,n=10,method="inclusive")[-1])
print("mean", repr(statistics.mean(x)), "stdev", repr(statistics.stdev(x)), "median", statistics.median(x))
a=[1,2,3,4,5]; b=[6,7,8,9,10]
print("mw a b", mw(a,b))
c=[1,2,2,3,3,3,4]; d=[3,4,4,5,5,6]
print("mw ties", mw(c,d))
e=[10.2,11.5,9.8,10.9,10.1,10.4,10.7,9.9]; f=[11.0,12.1,11.6,10.8,11.9,12.4,11.2,11.7,12.0]
print("mw e f", mw(e,f))
print("boot", [repr(v) for v in boot(e,f,2000,0.95,0x9e3779b97f4a7c15)])
st=42; out=[]
for i in range(3):
    st,r=sm(st); out.append(hex(r))
print("splitmix42", out)
